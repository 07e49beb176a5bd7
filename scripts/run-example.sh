#!/bin/sh
# Starts egressd in the foreground with the example config, after saying how to try it.
set -eu
bin="$1"
root="$(cd "$(dirname "$0")/.." && pwd)"
config="$root/examples/egressd.toml"

"$bin" --config "$config" --check

cat <<MSG

egressd is starting on 127.0.0.1:8100 with the rules in examples/rules/
(client 127.0.0.1 is "demo": it may reach example.com and *.debian.org).

Try it from another terminal:
  allowed:  curl -x http://127.0.0.1:8100 http://example.com/
  blocked:  curl -x http://127.0.0.1:8100 http://example.org/
  HTTPS:    curl -x http://127.0.0.1:8100 https://www.debian.org/
  blocked:  curl -x http://127.0.0.1:8100 https://example.org/

See the clients and what was refused (as root):
  $(dirname "$bin")/egressctl show
  $(dirname "$bin")/egressctl blocked demo

The blocked request shows a page naming the rule to add to examples/rules/demo.127.0.0.1.
Add it with:  $(dirname "$bin")/egressctl allow demo example.org
or edit that file: egressd reloads by itself when it changes.   Stop with Ctrl-C.

MSG
exec "$bin" --config "$config"
