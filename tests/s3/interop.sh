#!/usr/bin/env bash
# The interop suite (real clients) against `examples/registry --storage s3://interop/run-<pid>` on a
# moto S3 server (tests/s3/with-moto.sh starts and stops it). Needs MOTO_SERVER (from
# `eval "$(tests/s3/install.sh)"`); passes its arguments on to tests/interop/run.sh, e.g.
#
#   tests/s3/interop.sh --suites skopeo,podman
#
# CARGO_PROFILE=dev (the default here: `cargo test --features object-store` has built it) or
# release picks the registry build; CARGO_FEATURES defaults to object-store.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
export CARGO_FEATURES="${CARGO_FEATURES:-object-store}"
exec "$here/with-moto.sh" interop "$here/../interop/run.sh" --profile "${CARGO_PROFILE:-dev}" \
    --storage "s3://interop/run-$$" "$@"
