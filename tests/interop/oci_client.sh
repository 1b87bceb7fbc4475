#!/usr/bin/env bash
# oci-client (crates.io) round trips, driven by the separate crate interop/oci-client-check:
# chunked and monolithic image pushes, pull, Range GET (206), mount_blob, list_tags, catalog.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
require_cmd cargo
CRATE="$REPO_ROOT/interop/oci-client-check"
log "building $CRATE (own workspace and target dir)"
(cd "$CRATE" && nice -n 10 cargo build --release --locked --quiet)
"${CARGO_TARGET_DIR:-$CRATE/target}/release/oci-client-check" "$REGISTRY" "$NS" | sed "s/^/[$SUITE] /"
exit "${PIPESTATUS[0]}"
