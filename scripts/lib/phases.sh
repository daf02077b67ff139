# Wall time per phase, printed as a table when the script exits (sourced by .ci/run and
# scripts/test.sh), so a slow phase shows in every CI log.
#
#   source scripts/lib/phases.sh
#   phase "cargo test" cargo test --release
#   phase_start fuzz; ...; phase_end fuzz     # for a phase that runs in the background
_phase_names=()
_phase_secs=()
_phase_t0=$(date +%s)
declare -A _phase_open=()

phase_start() { _phase_open[$1]=$(date +%s.%N); }

phase_end() {
  local now
  now=$(date +%s.%N)
  _phase_names+=("$1")
  _phase_secs+=("$(awk -v a="${_phase_open[$1]}" -v b="$now" 'BEGIN { printf "%.1f", b - a }')")
}

phase() { # NAME COMMAND...: run COMMAND as phase NAME
  local name=$1
  shift
  phase_start "$name"
  "$@"
  phase_end "$name"
}

phase_table() {
  local i total
  total=$(( $(date +%s) - _phase_t0 ))
  echo "== wall time per phase ($1, $(nproc) cores, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1))"
  for i in "${!_phase_names[@]}"; do
    printf '  %-44s %8s s\n' "${_phase_names[$i]}" "${_phase_secs[$i]}"
  done
  printf '  %-44s %8s s\n' "total" "$total"
}
