#!/bin/sh
# The image's entrypoint: `vixmon "$@"` with the pricing kernels compiled at build time.
#
# numba loads cached kernels only from a folder it can write to, and the root filesystem is
# read-only: copy the build's cache (/opt/vixmon/numba-cache) to NUMBA_CACHE_DIR on the tmpfs
# first. A cache compiled for another CPU is not used: numba then compiles there, once per
# container (about a minute on 2 cores). Without a writable /tmp numba cannot run at all, so
# vixmon falls back to the numpy backend (same results, slower cycles) and says so.
set -eu
seed=/opt/vixmon/numba-cache
if [ -d "$seed" ] && [ ! -d "$NUMBA_CACHE_DIR" ]; then
    if ! cp -R "$seed" "$NUMBA_CACHE_DIR" 2>/dev/null; then
        echo "vixmon-entrypoint: cannot write $NUMBA_CACHE_DIR (mount a tmpfs on /tmp);" \
             "using the numpy pricing backend" >&2
        export VIXMON_PRICING_BACKEND=numpy
    fi
fi
exec vixmon "$@"
