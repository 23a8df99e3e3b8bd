# Sourced by the launchers (bin/polaformer and the jlink image's bin/polaformer) with the command's arguments:
# sets POLAFORMER_JIT_FLAGS. `classify` of one or two images is over before C2 has compiled the Vector API kernels
# (measured on 2 cores: 2.6 s to the first result with C2, 1.3 s with C1 alone, whose code is slower per image
# but ready at once); from three images on, C2's faster code wins. Under C1 the Vector API has no SIMD, so the `auto`
# backend is `reference` (plain Java, double precision), which for one image is still the sooner result.
# POLAFORMER_JIT=c1|c2 overrides the choice.
POLAFORMER_JIT_FLAGS=""
_pf_jit=${POLAFORMER_JIT:-}
if [ -z "$_pf_jit" ] && [ "${1:-}" = classify ]; then
  _pf_images=0
  for _pf_arg in "$@"; do
    case "$_pf_arg" in
      *.[jJ][pP][gG]|*.[jJ][pP][eE][gG]|*.[pP][nN][gG]) _pf_images=$((_pf_images + 1)) ;;
    esac
  done
  [ "$_pf_images" -le 2 ] && _pf_jit=c1
fi
# -Dpolaformer.jit=c1 tells the backend choice that C1 alone was asked for: `reference` is then expected, not a warning
[ "$_pf_jit" = c1 ] && POLAFORMER_JIT_FLAGS="-XX:TieredStopAtLevel=1 -Dpolaformer.jit=c1"
unset _pf_jit _pf_images _pf_arg
