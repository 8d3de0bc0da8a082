"""Links on tool cards: one text syntax (`label=url`) in every input, and web addresses only."""

import json
from pathlib import Path

import pytest

from panel.batch.inputs import read_rows
from panel.errors import CardError
from panel.records.cards import AS_STORED, Link, ToolCard, link_as_text, load_card, parse_card
from tests.support.cards import GOOD

CSV_HEADER = "name,tagline,category,description,maker,license,pricing,links\n"
CSV_ROW = "Tool,Does a thing,Library,A library.,Someone,MIT,Free,"


def links_of(links: list) -> list[tuple[str, str]]:
    return [(link.label, link.url) for link in parse_card({**GOOD, "links": links}, "card").links]


def test_a_link_is_a_table_or_label_equals_url_text_or_a_bare_url():
    assert links_of(
        [
            {"label": "Repository", "url": "https://github.com/pgvector/pgvector"},
            " Docs = https://docs.example.com/search?q=a=b ",
            "http://example.org/changelog?page=2",
        ]
    ) == [
        ("Repository", "https://github.com/pgvector/pgvector"),
        ("Docs", "https://docs.example.com/search?q=a=b"),  # only the first = splits
        ("example.org", "http://example.org/changelog?page=2"),  # a bare url: its host is the label
    ]


def test_link_text_round_trips():
    link = Link(label="Docs", url="https://example.com/a?b=c")
    assert link_as_text(link) == "Docs=https://example.com/a?b=c"
    assert Link.model_validate(link_as_text(link)) == link


@pytest.mark.parametrize("suffix", [".toml", ".json", ".yaml"])
def test_every_card_format_takes_the_text_syntax(tmp_path: Path, suffix: str):
    path = tmp_path / f"tool{suffix}"
    data = {**GOOD, "links": ["Home=https://example.com", "https://example.org/docs"]}
    if suffix == ".toml":
        body = "\n".join(f"{key} = {json.dumps(value)}" for key, value in data.items())
        path.write_text(body + "\n")
    else:
        path.write_text(json.dumps(data))
    assert [link.label for link in load_card(path).links] == ["Home", "example.org"]


@pytest.mark.parametrize(
    ("link", "problem"),
    [
        ({"label": "Docs", "url": "ftp://example.com/file"}, "'ftp://example.com/file' is not a web address"),
        ({"label": "Docs", "url": "javascript:alert(1)"}, "is not a web address"),
        ("Docs=example.com", "link 'Docs': 'example.com' is not a web address"),
        ("Docs=https://", "has no host name"),
        ("Docs=https://example.com/a b", "has a space or a control character"),
        ("Docs=http://[::1", "is not a valid web address"),
        ("Docs", "'Docs' is not a web address: a link is label=url"),
    ],
)
def test_a_link_that_is_not_a_web_address_is_refused_naming_the_field(link, problem):
    with pytest.raises(CardError) as caught:
        parse_card({**GOOD, "links": [GOOD["links"][0], link]}, "tools.toml")
    message = str(caught.value)
    assert message.startswith("tools.toml is not a valid tool card: links.1.url: ")
    assert problem in message


def test_the_old_studio_syntax_is_refused_with_the_new_one_named():
    with pytest.raises(CardError, match=r"links\.0: write a link as label=url; the “label \| url” form"):
        parse_card({**GOOD, "links": ["Docs | https://example.com"]}, "card")


def test_a_card_read_back_from_a_transcript_keeps_links_older_rules_let_in():
    data = {**GOOD, "links": [{"label": "Docs", "url": "javascript:alert(1)"}]}
    assert ToolCard.model_validate(data, context=AS_STORED).links[0].url == "javascript:alert(1)"
    with pytest.raises(CardError):
        parse_card(data, "card")


def test_csv_links_are_checked_and_the_error_names_the_row_and_field(tmp_path: Path):
    source = tmp_path / "tools.csv"
    source.write_text(
        CSV_HEADER
        + CSV_ROW
        + '"Home=https://example.com | https://example.org/docs?a=b"\n'
        + CSV_ROW
        + '"Home=https://example.com | Docs=htps://example.org"\n'
        + CSV_ROW
        + '"[{""label"": ""Docs"", ""url"": ""mailto:a@example.com""}]"\n',
        encoding="utf-8",
    )
    good, typo, mail = read_rows(source)
    assert good.card is not None and [link.url for link in good.card.links] == [
        "https://example.com",
        "https://example.org/docs?a=b",
    ]
    assert typo.card is None and typo.error.startswith(
        f"{source} row 3 is not a valid tool card: links.1.url:"
    )
    assert "link 'Docs': 'htps://example.org' is not a web address" in typo.error
    assert mail.card is None and f"{source} row 4" in mail.error and "'mailto:a@example.com'" in mail.error


def test_jsonl_links_are_checked_and_the_error_names_the_line(tmp_path: Path):
    source = tmp_path / "tools.jsonl"
    lines = [{**GOOD, "links": ["Home=https://example.com"]}, {**GOOD, "links": ["Home=file:///etc/passwd"]}]
    source.write_text("".join(json.dumps(line) + "\n" for line in lines))
    good, bad = read_rows(source)
    assert good.card is not None and good.card.links[0].label == "Home"
    assert bad.card is None and f"{source} line 2 is not a valid tool card: links.0.url:" in bad.error
