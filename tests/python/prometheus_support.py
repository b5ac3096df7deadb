"""Helpers for the Prometheus tests: scrape an exposition endpoint and parse
the text with prometheus_client's own parser (which also checks that the
text is valid exposition format)."""

from __future__ import annotations

import urllib.request

from prometheus_client.parser import text_string_to_metric_families


def scrape(url: str, timeout: float = 10.0) -> tuple[str, str]:
    """GET ``url``: (Content-Type, body text)."""
    with urllib.request.urlopen(url, timeout=timeout) as response:
        assert response.status == 200
        return response.headers["Content-Type"], response.read().decode("utf-8")


class Metrics:
    """The samples of one scrape, looked up by name and labels."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.families = {f.name: f for f in text_string_to_metric_families(text)}
        self.samples = {}
        for family in self.families.values():
            for sample in family.samples:
                self.samples[(sample.name, frozenset(sample.labels.items()))] = sample.value

    def get(self, name: str, default=None, **labels):
        """The value of the sample ``name{labels}`` (``default`` when absent)."""
        return self.samples.get((name, frozenset(labels.items())), default)

    def matching(self, name: str, **labels) -> dict:
        """Every sample called ``name`` whose labels include ``labels``:
        {frozenset(labels): value}."""
        wanted = set(labels.items())
        return {key: value for (n, key), value in self.samples.items() if n == name and wanted <= key}

    def names(self) -> set:
        """Every sample name seen."""
        return {name for name, _ in self.samples}
