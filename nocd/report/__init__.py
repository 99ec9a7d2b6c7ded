"""The nightly SLA report: gather from storage → pure report model → HTML, CSV and JSON.

    inputs = gather(session, settings, day=date(2024, 6, 30), kind="month", now=now)
    report = build_report(inputs)
    render_html(report, "zh-CN"), render_csv(report), render_json(report)

``nocd.report.service.ReportService`` runs and stores reports (nightly, catch-up, CLI).
Contents and JSON schema: docs/report.md.
"""
