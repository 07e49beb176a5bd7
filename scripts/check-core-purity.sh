#!/bin/sh
# Fails when the pure core includes I/O, threads, clocks or logging.
set -eu
dir="${1:-src/core}"
pattern='#[[:space:]]*include[[:space:]]*[<"](boost/|asio|thread|mutex|future|atomic|condition_variable|spdlog/|fmt/|iostream|fstream|filesystem|ctime|sys/socket|netinet/|unistd|ares)'
if grep -rnE "$pattern" "$dir"; then
  echo "check-core-purity: the core must not include I/O, threads, clocks or logging (above)" >&2
  exit 1
fi
if grep -rnE 'std::chrono::(steady|system|high_resolution)_clock' "$dir"; then
  echo "check-core-purity: the core must not read clocks (above)" >&2
  exit 1
fi
echo "check-core-purity: $dir is pure"
