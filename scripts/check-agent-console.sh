#!/usr/bin/env bash
# The agent console in a real browser: headless Chromium (Debian's chromium + chromium-driver,
# driven by python3-selenium) logs in to `kamirelay serve --demo` as the printed demo agent,
# takes a chat a Python websockets customer handed off, messages both ways, checks a card key
# shows masked, and hands the chat back to the bot; then a widget customer in a second browser is
# taken, sees the agent typing and replying, and rates the chat when the agent closes it; last,
# `kamirelay erase` of a third customer while the relay serves ends that chat on both sides.
# Screenshots go to $ARTIFACTS (if set).
# Usage: scripts/check-agent-console.sh [path/to/kamirelay]   (default: the debug build)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${1:-$(swift build --show-bin-path)/kamirelay}
[[ -x "$BIN" ]] || swift build --product kamirelay
for tool in /usr/bin/chromium /usr/bin/chromedriver; do
    [[ -x $tool ]] || { echo "check-agent-console: $tool missing (apt-get install chromium chromium-driver)" >&2; exit 2; }
done
/usr/bin/python3 -c 'import selenium, websockets' 2>/dev/null || { echo "check-agent-console: apt-get install python3-selenium python3-websockets" >&2; exit 2; }
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
if [[ -n ${ARTIFACTS:-} ]]; then mkdir -p "$ARTIFACTS"; fi
if /usr/bin/python3 scripts/agent_console_browser_check.py "$BIN" "$WORK" ${ARTIFACTS:+"$ARTIFACTS"}; then
    echo "ok   agent console in headless Chromium"
else
    echo "FAIL agent console in headless Chromium"; tail -20 "$WORK/agent-console-server.log"; exit 1
fi
