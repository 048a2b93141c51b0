"""Parsing Locust's CSV files (the formats Locust 2.47 writes), without running Locust."""

from __future__ import annotations

import pytest

from archconform.load.results import ErrorRow, has_stats, parse_history, parse_results

PERCENTILES = "50%,66%,75%,80%,90%,95%,98%,99%,99.9%,99.99%,100%"
STATS = (
    "Type,Name,Request Count,Failure Count,Median Response Time,Average Response Time,"
    "Min Response Time,Max Response Time,Average Content Size,Requests/s,Failures/s,"
    f"{PERCENTILES}\n"
    "GET,/,120,0,4,5.5,1.2,40,129.0,40.0,0.0,4,5,6,7,9,12,20,30,40,40,40\n"
    "GET,/health,40,10,3,3.5,1.0,20,38.0,13.3,3.3,3,3,4,4,5,8,10,15,20,20,20\n"
    ",Aggregated,160,10,4,5.0,1.0,40,106.4,53.3,3.3,4,5,6,6,8,11,19,29,40,40,40\n"
)
HISTORY = (
    "Timestamp,User Count,Type,Name,Requests/s,Failures/s,"
    f"{PERCENTILES},Total Request Count,Total Failure Count,Total Median Response Time,"
    "Total Average Response Time,Total Min Response Time,Total Max Response Time,"
    "Total Average Content Size\n"
    "1795490135,0,,Aggregated,0.000000,0.000000,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,"
    "0,0,0,0,0,0,0\n"
    "1795490136,3,,Aggregated,0.000000,0.000000,4,5,6,6,8,11,19,29,40,40,40,60,2,4,5.0,1.0,40,"
    "106.4\n"
    "1795490137,3,,Aggregated,50.000000,3.000000,4,5,6,6,8,12,19,29,40,40,40,160,10,4,5.0,1.0,"
    "40,106.4\n"
    "1795490138,3,,Aggre"  # a row being written while the run goes on
)
FAILURES = (
    "Method,Name,Error,Occurrences\n"
    "GET,/health,LocustBadStatusCode(code=503),7\n"
    "GET,/health,\"CatchResponseError('429 Too Many Requests')\",2\n"
    "GET,/health,\"ConnectionRefusedError(111, 'Connection refused')\",1\n"
)


@pytest.fixture
def prefix(tmp_path):
    base = tmp_path / "run"
    (tmp_path / "run_stats.csv").write_text(STATS)
    (tmp_path / "run_stats_history.csv").write_text(HISTORY)
    (tmp_path / "run_failures.csv").write_text(FAILURES)
    (tmp_path / "run_exceptions.csv").write_text("Count,Message,Traceback,Nodes\n")
    return str(base)


def test_aggregated_row_endpoints_and_percentiles(prefix):
    result = parse_results(prefix)
    assert (result.requests, result.failures, result.rps) == (160, 10, 53.3)
    assert (result.median_ms, result.p95_ms, result.p99_ms) == (4.0, 11.0, 29.0)
    assert result.percentiles["99.9%"] == 40.0
    assert [row.name for row in result.stats] == ["/", "/health"]
    assert result.endpoint("/health").failures == 10
    assert result.failure_ratio == pytest.approx(10 / 160)
    assert "160 requests, 10 failures, 53.3 req/s, median 4ms, p95 11ms" in result.summary()


def test_history_skips_a_half_written_row_and_keeps_n_a_as_none(prefix):
    history = parse_history(f"{prefix}_stats_history.csv")
    assert [point.timestamp for point in history] == [1795490135, 1795490136, 1795490137]
    assert history[0].p95_ms is None and history[0].users == 0
    assert (history[2].rps, history[2].requests, history[2].failures) == (50.0, 160, 10)


def test_errors_by_status_code_and_refused(prefix):
    result = parse_results(prefix)
    assert result.status_count(503) == 7 and result.status_count(429) == 2
    assert result.status_ratio(429) == pytest.approx(2 / 160)
    assert result.refused == 1


def test_share_of_limited_responses_beyond_the_limit(prefix):
    result = parse_results(prefix)  # 160 requests, 2 answered 429
    assert result.limited_share_beyond(limit=150, period_s=60, duration_s=30) == 2 / 10
    assert result.limited_share_beyond(limit=75, period_s=60, duration_s=90) == 2 / 10  # 2 windows
    assert result.limited_share_beyond(limit=200, period_s=60, duration_s=30) is None


@pytest.mark.parametrize(("error", "status"), [
    ("LocustBadStatusCode(code=503)", 503),
    ("HTTPError('500 Server Error: INTERNAL SERVER ERROR for url: http://127.0.0.1:1/x')", 500),
    ("CatchResponseError('429 Too Many Requests')", 429),
    ("429 Too Many Requests", 429),
    ("ConnectionRefusedError(111, 'Connection refused')", None),
    ("RemoteDisconnected('Remote end closed connection without response')", None),
    ("timeout after 1005 ms", None),
])
def test_status_code_in_error_texts(error, status):
    assert ErrorRow("GET", "/", error, 1).status == status


def test_final_files_win_over_the_once_a_second_ones(prefix, tmp_path):
    final = str(tmp_path / "run_final")
    (tmp_path / "run_final_stats.csv").write_text(STATS.replace(",Aggregated,160,", ",Aggregated,170,"))
    (tmp_path / "run_final_failures.csv").write_text("Method,Name,Error,Occurrences\n")
    (tmp_path / "run_final_exceptions.csv").write_text("Count,Message,Traceback,Nodes\n")
    result = parse_results(prefix, final_prefix=final)
    assert result.requests == 170 and result.errors == []
    assert parse_results(prefix, final_prefix=str(tmp_path / "absent")).requests == 160


def test_missing_files_give_an_empty_result(tmp_path):
    result = parse_results(str(tmp_path / "nothing"))
    assert (result.requests, result.failures, result.history, result.errors) == (0, 0, [], [])
    assert not has_stats(str(tmp_path / "nothing"))
