#!/bin/bash
# Runs libFuzzer targets built by "make fuzz-build", one after the other,
# each for FUZZ_SECONDS (default 60) or, with FUZZ_RUNS set, for that many
# inputs: on a working corpus in build/fuzz/corpus/<target> (where new
# inputs go) seeded from t/fuzz/corpus/<target>.  Fails on any crash,
# leak, sanitizer report, timeout or out-of-memory (the input is left in
# build/fuzz/artifacts/, the log in build/fuzz/<target>.log), and prints
# each target's executions at the end.
# Usage: fuzz.sh TARGET...   (FUZZ_ARGS: more libFuzzer options)

set -u

root=$(cd "$(dirname "$0")/.." && pwd)
out=$root/build/fuzz
seconds=${FUZZ_SECONDS:-60}
runs=${FUZZ_RUNS:-}

mkdir -p "$out/artifacts"

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}

status=0
report=()

for t in "$@"; do
    bin=$root/build/fuzz-$t

    if [ ! -x "$bin" ]; then
        echo "fuzz.sh: $bin is not built (make fuzz-build)" >&2
        exit 2
    fi

    mkdir -p "$out/corpus/$t"

    if [ -n "$runs" ]; then
        limit=(-runs="$runs")
    else
        limit=(-max_total_time="$seconds")
    fi

    echo "fuzz-$t: ${limit[0]#-}, log in build/fuzz/$t.log"

    start=$(date +%s)
    # shellcheck disable=SC2086
    "$bin" "${limit[@]}" -timeout=25 -print_final_stats=1 \
        -artifact_prefix="$out/artifacts/$t-" ${FUZZ_ARGS:-} \
        "$out/corpus/$t" "$root/t/fuzz/corpus/$t" > "$out/$t.log" 2>&1
    rc=$?
    took=$(( $(date +%s) - start ))

    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$out/$t.log" \
            | tail -1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$out/$t.log" \
           | tail -1)

    if [ $rc -ne 0 ]; then
        status=1
        result=FAILED
        grep -E 'ERROR|SUMMARY|check failed|fake nginx|runtime error|Test unit' \
            "$out/$t.log" | head -20 >&2
    else
        result=ok
    fi

    report+=("$(printf '%-12s %14s %8s s %10s/s  %s' "$t" "${execs:-?}" \
                "$took" "${rate:-?}" "$result")")
done

echo
printf '%-12s %14s %10s %12s  %s\n' target executions time rate result
for line in "${report[@]}"; do
    echo "$line"
done

exit $status
