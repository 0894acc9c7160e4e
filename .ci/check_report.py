"""The HTML anomaly report in headless Chromium: it loads with no console message (errors,
warnings or logs: the page has no script, so any message is a fault), and the DOM Chromium
built holds the findings table and, per flagged endpoint, three charts with a line and the
anomaly window shaded.

usage: check_report.py REPORT.html
"""

import pathlib
import re
import subprocess
import sys

page = pathlib.Path(sys.argv[1]).resolve()
run = subprocess.run(
    [
        "chromium",
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--enable-logging=stderr",
        "--v=0",
        "--dump-dom",
        page.as_uri(),
    ],
    capture_output=True,
    text=True,
    timeout=120,
)
if run.returncode != 0:
    sys.exit(f"chromium exited {run.returncode}: {run.stderr[-2000:]}")
console = [l for l in run.stderr.splitlines() if ":CONSOLE" in l]
if console:
    sys.exit("console messages:\n" + "\n".join(console))
dom = run.stdout
counts = {
    "findings": len(re.findall(r'<tr class="finding"', dom)),
    "endpoints": len(re.findall(r'<section class="endpoint"', dom)),
    "charts": len(re.findall(r'<svg class="chart"', dom)),
    "lines": len(re.findall(r'<path class="line" d="M', dom)),
    "shaded": len(re.findall(r'<rect class="anomaly"', dom)),
}
print("report DOM:", counts)
problems = []
if counts["findings"] < 1:
    problems.append("no finding rows")
if counts["endpoints"] < 1 or counts["charts"] != 3 * counts["endpoints"]:
    problems.append("expected three charts per flagged endpoint")
if counts["lines"] < counts["charts"] - counts["endpoints"]:
    problems.append("charts without lines")
if counts["shaded"] < counts["charts"]:
    problems.append("charts without their anomaly window")
if problems:
    sys.exit("; ".join(problems))
