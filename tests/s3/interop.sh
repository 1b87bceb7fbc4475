#!/usr/bin/env bash
# The interop suite (real clients) against `examples/registry --storage s3://interop/run-<pid>` on a
# moto S3 server (tests/s3/with-moto.sh starts and stops it). Needs MOTO_SERVER (from
# `eval "$(tests/s3/install.sh)"`); passes its arguments on to tests/interop/run.sh, e.g.
#
#   tests/s3/interop.sh --suites skopeo,podman
#
# CARGO_PROFILE=debug (the default here: `cargo test --features object-store` has built it) or
# release picks the registry build, as for tests/s3/conformance.sh; CARGO_FEATURES defaults to
# object-store.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
export CARGO_FEATURES="${CARGO_FEATURES:-object-store}"
profile="${CARGO_PROFILE:-debug}"
[[ "$profile" == debug ]] && profile=dev # cargo's name for the debug build
exec "$here/with-moto.sh" interop "$here/../interop/run.sh" --profile "$profile" \
    --storage "s3://interop/run-$$" "$@"
