"""The node classes of the source tree, the IR and expressions: slotted, and their copies complete."""

import dataclasses

import pytest

from mailwright import expr, ir, source

NODE_CLASSES = [
    source.Lit, source.Tag, source.Param, source.InlineRaw, source.Attr, source.Element, source.Comment,
    ir.Text, ir.Output, ir.Branch, ir.If, ir.For, ir.Raw, ir.Element,
    expr.Var, expr.Const, expr.ListLit, expr.Cmp, expr.And, expr.Or, expr.Not, expr.Defined,
    expr.Filter, expr.OutputExpr, expr.Scope,
]


@pytest.mark.parametrize("cls", NODE_CLASSES, ids=lambda c: f"{c.__module__}.{c.__name__}")
def test_node_classes_are_slotted(cls):
    # thousands are made per compile: no per-instance dict
    assert "__slots__" in cls.__dict__
    obj = cls(*[object() for f in dataclasses.fields(cls) if f.init])
    assert not hasattr(obj, "__dict__")


def _distinct(cls):
    # every field a value of its own, so a dropped or mixed-up field shows
    return cls(*[object() for _ in dataclasses.fields(cls)])


def test_element_shallow_shares_every_field():
    el = _distinct(source.Element)
    new = el.shallow()
    assert new is not el and type(new) is source.Element
    for f in dataclasses.fields(source.Element):
        assert getattr(new, f.name) is getattr(el, f.name), f.name


def test_attr_with_value_shares_every_other_field():
    a = _distinct(source.Attr)
    value = [source.Lit("x", None)]
    new = a.with_value(value)
    assert new is not a and new.value is value
    for f in dataclasses.fields(source.Attr):
        if f.name != "value":
            assert getattr(new, f.name) is getattr(a, f.name), f.name
