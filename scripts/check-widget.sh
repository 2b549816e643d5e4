#!/usr/bin/env bash
# The web widget in a real browser: headless Chromium (Debian's chromium + chromium-driver,
# driven by python3-selenium) chats with `kamirelay serve --demo`: greeting, an order question in
# Chinese, a phone number and a card key shown masked with the safety notice, then a server
# restart (SIGTERM → close 1001) and the widget's reconnect. Screenshots go to $ARTIFACTS (if set).
# Usage: scripts/check-widget.sh [path/to/kamirelay]   (default: the debug build)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${1:-$(swift build --show-bin-path)/kamirelay}
[[ -x "$BIN" ]] || swift build --product kamirelay
for tool in /usr/bin/chromium /usr/bin/chromedriver; do
    [[ -x $tool ]] || { echo "check-widget: $tool missing (apt-get install chromium chromium-driver)" >&2; exit 2; }
done
/usr/bin/python3 -c 'import selenium' 2>/dev/null || { echo "check-widget: apt-get install python3-selenium" >&2; exit 2; }
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
if [[ -n ${ARTIFACTS:-} ]]; then mkdir -p "$ARTIFACTS"; fi
if /usr/bin/python3 scripts/widget_browser_check.py "$BIN" "$WORK" ${ARTIFACTS:+"$ARTIFACTS"}; then
    echo "ok   widget in headless Chromium"
else
    echo "FAIL widget in headless Chromium"; cat "$WORK/widget-server.log" | tail -20; exit 1
fi
