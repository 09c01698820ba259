# Sourced by setup.sh and lock.sh: prints a Python 3.12 interpreter (pyenv's, or the system's).
find_python312() {
  local c
  for c in python3.12 "$HOME"/.pyenv/versions/3.12*/bin/python3.12 /usr/local/bin/python3.12 /usr/bin/python3.12; do
    if command -v "$c" >/dev/null 2>&1 && "$c" -c 'import sys; assert sys.version_info[:2] == (3, 12)' 2>/dev/null; then
      command -v "$c"; return 0
    fi
  done
  echo "Python 3.12 not found (install it, e.g. with pyenv)" >&2; return 1
}
