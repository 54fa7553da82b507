# Sourced by the scripts/injection-corpus* scripts: where a corpus is cached, and
# how pinned files of a public GitHub repository are fetched (by URL, or from a
# local clone for machines that cannot reach the download host) and checked
# against their SHA-256 sums.
#
# The cache directory is $MAAS_CACHE_DIR, else $XDG_CACHE_HOME/maas, else ~/.cache/maas.

# corpus_dir NAME: creates and prints the corpus's cache directory.
corpus_dir() {
  local dir="${MAAS_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/maas}/injection-corpus/$1"
  mkdir -p "$dir"
  echo "$dir"
}

# from_git_arg ARGS...: prints the directory given as `--from-git DIR`, nothing
# when there are no arguments; any other argument is a usage error.
from_git_arg() {
  case "${1:-}" in
    "") ;;
    --from-git)
      [ -n "${2:-}" ] || { echo "--from-git needs a directory" >&2; return 2; }
      echo "$2" ;;
    *)
      echo "usage: $(basename "$0") [--from-git GIT_DIR]" >&2
      return 2 ;;
  esac
}

# fetch_pinned REPO COMMIT DEST SUMS FROM_GIT [PATH_IN_REPO NAME]...
#   Writes each file PATH_IN_REPO of the GitHub repository REPO (owner/name) at
#   COMMIT to DEST/NAME unless it is already there (an interrupted download
#   leaves only NAME.part), reading it from the clone FROM_GIT when that is not
#   empty, then checks DEST against SUMS (`sha256sum` lines).
fetch_pinned() {
  local repo=$1 commit=$2 dest=$3 sums=$4 from_git=$5
  shift 5
  mkdir -p "$dest"
  while [ $# -ge 2 ]; do
    local src=$1 name=$2
    shift 2
    [ -s "$dest/$name" ] && continue
    if [ -n "$from_git" ]; then
      local git_dir
      git_dir="$(cd "$from_git" && git rev-parse --absolute-git-dir)"
      git --git-dir="$git_dir" show "$commit:$src" >"$dest/$name.part"
    else
      curl -fsSL --retry 3 -o "$dest/$name.part" \
        "https://raw.githubusercontent.com/$repo/$commit/$src"
    fi
    mv "$dest/$name.part" "$dest/$name"
  done
  (cd "$dest" && echo "$sums" | sha256sum --check --quiet) || {
    echo "checksum mismatch in $dest; remove it and fetch again" >&2
    return 1
  }
}
