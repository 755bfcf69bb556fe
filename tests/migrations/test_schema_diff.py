"""The pure schema comparison behind ``verify``."""

from __future__ import annotations

from personal_assistant.database.migrations.schema_snapshot import SchemaSnapshot, diff


def snap(**objects: dict[str, str]) -> SchemaSnapshot:
    return SchemaSnapshot(objects)


def test_equal_snapshots_have_no_differences() -> None:
    a = snap(table={"public.t": "r p"}, index={"public.t_pkey": "CREATE UNIQUE INDEX"})
    assert diff(a, a) == ()


def test_an_object_left_behind_is_reported() -> None:
    before = snap(index={})
    after = snap(index={"public.ix": "CREATE INDEX ix ON public.t USING btree (a)"})
    (d,) = diff(before, after)
    assert (d.category, d.key, d.before) == ("index", "public.ix", None)
    assert "was left behind" in str(d)


def test_a_missing_and_a_changed_object_are_reported() -> None:
    before = snap(column={"public.t.a": "integer", "public.t.b": "text"})
    after = snap(column={"public.t.a": "bigint"})
    assert [str(d) for d in diff(before, after)] == [
        "column public.t.a changed: integer -> bigint",
        "column public.t.b is gone (was: text)",
    ]
