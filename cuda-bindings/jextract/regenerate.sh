#!/usr/bin/env bash
# Regenerates the committed FFM bindings under src/main/java/dev/polaformer/cuda/bindings/ with jextract.
#
# The normal build never runs this: the generated Java is committed. Run it after changing a *.symbols file
# or moving to new headers. It refuses to run against headers, a jextract or a libclang other than the ones
# pinned in versions.properties, so two people regenerating get the same files; --update re-pins to what it
# finds (then review the diff of the generated code and versions.properties together).
#
#   regenerate.sh [--update] [--cuda DIR] [--cublas DIR] [--cudnn DIR] [--nvrtc DIR]
#
# Header folders may also come from CUDA_INCLUDE, CUBLAS_INCLUDE, CUDNN_INCLUDE, NVRTC_INCLUDE. CUDA defaults
# to /usr/local/cuda/include; cuBLAS and NVRTC default to the CUDA folder (the toolkit ships them together).
# jextract comes from JEXTRACT or the PATH. jextract does not report its own commit, so the script reads it
# from JEXTRACT_COMMIT, or from git when jextract sits in a checkout of openjdk/jextract.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
module=$(dirname "$here")
out_root=$module/src/main/java
base_package=dev.polaformer.cuda.bindings
pins=$here/versions.properties

die() { echo "regenerate.sh: $*" >&2; exit 1; }

update=false
cuda_inc=${CUDA_INCLUDE:-/usr/local/cuda/include}
cublas_inc=${CUBLAS_INCLUDE:-}
cudnn_inc=${CUDNN_INCLUDE:-}
nvrtc_inc=${NVRTC_INCLUDE:-}
while [[ $# -gt 0 ]]; do
  case $1 in
    --update) update=true; shift ;;
    --cuda) cuda_inc=$2; shift 2 ;;
    --cublas) cublas_inc=$2; shift 2 ;;
    --cudnn) cudnn_inc=$2; shift 2 ;;
    --nvrtc) nvrtc_inc=$2; shift 2 ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
done
cublas_inc=${cublas_inc:-$cuda_inc}
nvrtc_inc=${nvrtc_inc:-$cuda_inc}
[[ -n $cudnn_inc ]] || die "no cuDNN headers: give --cudnn DIR or CUDNN_INCLUDE (the folder holding cudnn.h)"

# --- tools -------------------------------------------------------------------------------------------------
java_home=${JAVA_HOME:-}
if [[ -z $java_home ]] && command -v javac >/dev/null; then
  java_home=$(dirname "$(dirname "$(readlink -f "$(command -v javac)")")")
fi
[[ -x $java_home/bin/javac ]] || die "no JDK found: set JAVA_HOME to a JDK 25 or newer"
jdk_feature=$("$java_home/bin/java" -XshowSettings:properties -version 2>&1 |
  sed -n 's/^ *java\.specification\.version = //p')
[[ ${jdk_feature:-0} -ge 25 ]] || die "JAVA_HOME=$java_home is JDK ${jdk_feature:-?}; the bindings need JDK 25 or newer"
export JAVA_HOME=$java_home

jextract=${JEXTRACT:-$(command -v jextract || true)}
[[ -n $jextract && -x $jextract ]] || die "no jextract: set JEXTRACT or put jextract on the PATH. It is not on
Maven Central; build it from https://github.com/openjdk/jextract at the commit in $pins, with a JDK 25 and libclang"

version_text=$("$jextract" --version 2>&1) || die "'$jextract --version' failed: $version_text"
found_libclang=$(sed -n 's/^LibClang version.* \([0-9][0-9.]*\).*$/\1/p' <<<"$version_text")
found_jextract_commit=${JEXTRACT_COMMIT:-$(git -C "$(dirname "$(readlink -f "$jextract")")" rev-parse HEAD 2>/dev/null || true)}
[[ -n $found_jextract_commit ]] || die "cannot tell which jextract commit $jextract was built from:
set JEXTRACT_COMMIT to it (the full hash)"

# --- header versions ---------------------------------------------------------------------------------------
need_file() { [[ -f $1 ]] || die "missing header $1"; }
macro() { # macro FILE NAME: the value of '#define NAME value' in FILE
  sed -n "s/^#define[[:space:]]\+$2[[:space:]]\+\([0-9]\+\).*/\1/p" "$1" | head -n 1
}
need_file "$cuda_inc/cuda.h"; need_file "$cuda_inc/cuda_runtime_api.h"
need_file "$cublas_inc/cublas_v2.h"; need_file "$cublas_inc/cublas_api.h"
need_file "$cudnn_inc/cudnn.h"; need_file "$cudnn_inc/cudnn_version.h"
need_file "$nvrtc_inc/nvrtc.h"

found_cuda=$(macro "$cuda_inc/cuda.h" CUDA_VERSION)
found_cudart=$(macro "$cuda_inc/cuda_runtime_api.h" CUDART_VERSION)
[[ $found_cuda == "$found_cudart" ]] || die "cuda.h says CUDA_VERSION $found_cuda but cuda_runtime_api.h says $found_cudart"
b=$cublas_inc/cublas_api.h
found_cublas=$(macro "$b" CUBLAS_VER_MAJOR).$(macro "$b" CUBLAS_VER_MINOR).$(macro "$b" CUBLAS_VER_PATCH).$(macro "$b" CUBLAS_VER_BUILD)
d=$cudnn_inc/cudnn_version.h
found_cudnn=$(macro "$d" CUDNN_MAJOR).$(macro "$d" CUDNN_MINOR).$(macro "$d" CUDNN_PATCHLEVEL)
# nvrtc.h declares no version macro (the library reports it through nvrtcVersion), so the file itself is pinned.
found_nvrtc=$(sha256sum "$nvrtc_inc/nvrtc.h" | cut -d' ' -f1)

found=(
  "jextract.commit=$found_jextract_commit"
  "libclang.version=$found_libclang"
  "cuda.version=$found_cuda"
  "cublas.version=$found_cublas"
  "cudnn.version=$found_cudnn"
  "nvrtc.header.sha256=$found_nvrtc"
)

write_pins() {
  {
    echo "# Pinned inputs of regenerate.sh; it fails when what it finds differs (regenerate.sh --update re-pins)."
    echo "# cuda.version is CUDA_VERSION of cuda.h (and CUDART_VERSION of cuda_runtime_api.h), cublas.version"
    echo "# CUBLAS_VER_MAJOR.MINOR.PATCH.BUILD, cudnn.version CUDNN_MAJOR.MINOR.PATCHLEVEL. nvrtc.h has no version"
    echo "# macro, hence its hash."
    printf '%s\n' "${found[@]}"
  } >"$pins"
  echo "regenerate.sh: pinned versions written to $pins"
}

if $update; then
  : # re-pinned once the bindings are generated
else
  [[ -f $pins ]] || die "no $pins: run with --update once to pin what is found"
  mismatches=()
  for line in "${found[@]}"; do
    key=${line%%=*} value=${line#*=}
    pinned=$(sed -n "s/^$key=//p" "$pins")
    [[ $pinned == "$value" ]] || mismatches+=("$key: pinned '${pinned}', found '${value}'")
  done
  if [[ ${#mismatches[@]} -gt 0 ]]; then
    printf 'regenerate.sh: inputs differ from %s:\n' "$pins" >&2
    printf '  %s\n' "${mismatches[@]}" >&2
    die "use the pinned inputs, or pass --update to re-pin (and review the generated diff)"
  fi
fi

# --- generation --------------------------------------------------------------------------------------------
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# symbol_args LIB DUMP: turns LIB.symbols into jextract --include-* options, expanding "prefix*" against the
# list jextract dumps, and fails on any line that matches nothing (a renamed or removed symbol).
symbol_args() {
  local lib=$1 dump=$2 kind name matches missing=0
  while read -r kind name rest; do
    [[ -z $kind || $kind == \#* ]] && continue
    [[ -z ${rest:-} && -n ${name:-} ]] || die "$lib.symbols: bad line '$kind $name ${rest:-}'"
    case $kind in function|constant|typedef|struct|union|var) ;; *) die "$lib.symbols: unknown kind '$kind'" ;; esac
    if [[ $name == *\* ]]; then
      matches=$(awk -v k="--include-$kind" -v p="${name%\*}" '$1 == k && index($2, p) == 1 { print $2 }' "$dump")
    else
      matches=$(awk -v k="--include-$kind" -v n="$name" '$1 == k && $2 == n { print $2 }' "$dump")
    fi
    if [[ -z $matches ]]; then
      echo "regenerate.sh: $lib.symbols: no $kind '$name' in the headers" >&2
      missing=1
    fi
    for m in $matches; do printf -- '--include-%s\n%s\n' "$kind" "$m"; done
  done <"$here/$lib.symbols"
  [[ $missing -eq 0 ]] || die "$lib.symbols names symbols the headers do not declare"
}

# generate LIB HEADER_CLASS HEADER INCLUDE_DIR...
generate() {
  local lib=$1 header_class=$2 header=$3
  shift 3
  local includes=() dir
  for dir in "$@"; do includes+=(-I "$dir"); done
  local package=$base_package.$lib
  local dump=$work/$lib.dump args=$work/$lib.args
  "$jextract" "${includes[@]}" --dump-includes "$dump" "$header" >"$work/$lib.log" 2>&1 ||
    { cat "$work/$lib.log" >&2; die "jextract could not parse $header"; }
  symbol_args "$lib" "$dump" >"$args"
  # No --library: the classes look symbols up in the libraries CudaLibraries.load() has loaded (loaderLookup).
  "$jextract" "${includes[@]}" --target-package "$package" --header-class-name "$header_class" \
    --output "$work/out" "@$args" "$header" >"$work/$lib.log" 2>&1 ||
    { cat "$work/$lib.log" >&2; die "jextract failed on $header"; }
  echo "regenerate.sh: $package.$header_class from $header ($(grep -c '^--include' "$args") symbols)"
}

generate runtime CudaRuntime "$cuda_inc/cuda_runtime_api.h" "$cuda_inc"
generate driver CudaDriver "$cuda_inc/cuda.h" "$cuda_inc"
generate cublas Cublas "$cublas_inc/cublas_v2.h" "$cublas_inc" "$cuda_inc"
generate cudnn Cudnn "$cudnn_inc/cudnn.h" "$cudnn_inc" "$cuda_inc"
generate nvrtc Nvrtc "$nvrtc_inc/nvrtc.h" "$nvrtc_inc" "$cuda_inc"

# Everything is generated into a scratch folder first and must compile on its own (with the JDK the project
# uses) before it replaces the committed packages, so a failure halfway leaves the module as it was.
bindings=${base_package//.//}
find "$work/out/$bindings" -name '*.java' >"$work/sources"
"$java_home/bin/javac" --release 25 -Xlint:all,-restricted -d "$work/classes" @"$work/sources" ||
  die "the generated sources do not compile"
rm -rf "${out_root:?}/$bindings"
mkdir -p "$(dirname "$out_root/$bindings")"
cp -r "$work/out/$bindings" "$out_root/$bindings"
if $update; then write_pins; fi
echo "regenerate.sh: done; review 'git diff --stat -- $module' before committing"
