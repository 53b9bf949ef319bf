#!/usr/bin/env bash
# lib/ keeps its layering (ARCHITECTURE.md): no include points upwards.
exec "$ECUUP_SRC/scripts/check-layers"
