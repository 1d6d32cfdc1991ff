#!/bin/sh
# A step plugin for the exec contract tests. Reads the JSON request on stdin; behaves as its
# `step.mode` says. Plain sh and sed, so the tests need nothing else installed.
input=$(cat)
case "$input" in
  *'"action":"abort"'*)
    echo "aborted $(printf '%s' "$input" | sed -n 's/.*"state":\({[^}]*}\).*/\1/p')" > "$PWD/aborted"
    exit 0
    ;;
esac
mode=$(printf '%s' "$input" | sed -n 's/.*"mode":"\([a-z]*\)".*/\1/p')
case "$mode" in
  succeed)
    stage=$(printf '%s' "$input" | sed -n 's/.*"stage":"\([a-z]*\)".*/\1/p')
    printf '{"result":"succeeded","message":"done","outputs":{"answer":42,"stage":"%s"}}' "$stage"
    ;;
  wait)
    if printf '%s' "$input" | grep -q '"state":{"polls":1}'; then
      printf '{"result":"succeeded","outputs":{"polls":2}}'
    else
      printf '{"result":"running","message":"not yet","state":{"polls":1}}'
    fi
    ;;
  fail) printf '{"result":"failed","message":"the plugin says no"}' ;;
  big) printf '{"result":"running","state":"%s"}' "$(head -c 70000 /dev/zero | tr '\0' a)" ;;
  garbage) echo "not json" ;;
  *) echo "boom: unknown mode" >&2; exit 3 ;;
esac
