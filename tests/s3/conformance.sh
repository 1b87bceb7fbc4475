#!/usr/bin/env bash
# The conformance suite against `examples/registry --storage s3://conformance/<run>` on a moto
# S3 server (tests/s3/with-moto.sh starts and stops it). Needs MOTO_SERVER (from
# `eval "$(tests/s3/install.sh)"`); passes its arguments on to tests/conformance/run.sh.
#
# CARGO_PROFILE=debug (the default here: `cargo test --features object-store` has built it)
# or release picks the registry build.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
export CARGO_FEATURES="${CARGO_FEATURES:-object-store}" CARGO_PROFILE="${CARGO_PROFILE:-debug}"
export REGISTRY_ARGS="--storage s3://conformance/run-$$ ${REGISTRY_ARGS:-}"
exec "$here/with-moto.sh" conformance "$here/../conformance/run.sh" "$@"
