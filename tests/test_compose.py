"""Composition (compose.Composer): what a use rebuilds, what it shares, and what it still refuses."""

from pathlib import Path

import pytest

from mailwright.compose import Composer, default_theme, load_component
from mailwright.errors import MailwrightError
from mailwright.source import SourceFile, parse_document

BODY = "<mjml><mj-body>{}</mj-body></mjml>"


def parse(path: Path, text: str):
    path.write_text(text)
    return parse_document(SourceFile(str(path), text))


def component(tmp_path: Path, name: str, text: str):
    f = tmp_path / f"{name}.mjml"
    f.write_text(text)
    return load_component(f)


def compose(tmp_path: Path, body: str, components: dict, brand=None):
    root = parse(tmp_path / "t.mjml", BODY.format(body))
    c = Composer(components, None, brand or {})
    return c, c.expand(root, [tmp_path])


CARD = ('<x-component size="12px" required="who">'
        '<mj-section><mj-column><mj-text align="left" font-size="[[ size ]]" color="red">Hi [[ who ]]</mj-text>'
        '<mj-divider border-width="1px"/></mj-column></mj-section></x-component>')


def text_of(el):
    return "".join(getattr(c, "text", "") for c in el.content)


def test_each_use_gets_its_own_values_and_the_component_stays_as_written(tmp_path):
    card = component(tmp_path, "card", CARD)
    before = repr(card.root)
    _, root = compose(tmp_path, '<x-card who="Ann"/><x-card who="Bo" size="20px"/>', {"card": card})
    texts = [s.children[0].children[0] for s in root.children[0].children]
    assert [text_of(t) for t in texts] == ["Hi Ann", "Hi Bo"]
    # the plain attributes around a [[ ]] one keep their values and their order
    assert [(k, "".join(c.text for c in a.value)) for k, a in texts[1].attrs.items()] == [
        ("align", "left"), ("font-size", "20px"), ("color", "red")]
    assert repr(card.root) == before  # nothing a use rebuilds is written back into the component


def test_a_subtree_with_nothing_build_time_is_not_copied(tmp_path):
    card = component(tmp_path, "card", CARD)
    src = parse(tmp_path / "t.mjml", BODY.format(
        '<mj-section><mj-column><mj-text>plain</mj-text></mj-column></mj-section><x-card who="A"/>'))
    root = Composer({"card": card}, None).expand(src, [tmp_path])
    plain = src.children[0].children[0]
    assert root.children[0].children[0] is plain  # shared as it is
    assert root is not src and root.children[0] is not src.children[0]  # its ancestors are rebuilt
    divider = card.root.children[0].children[0].children[1]
    assert root.children[0].children[1].children[0].children[1] is divider


@pytest.mark.parametrize("body, components, where", [
    ('<x-odd/>', {"odd": '<x-component note="a <x-each b">'
                         '<mj-section><mj-column><mj-text>[[ note ]]</mj-text></mj-column></mj-section></x-component>'},
     "odd.mjml:1:20"),
    ('<x-card who="a <x-each b"/>', {"card": CARD}, "t.mjml:1:29"),
    ('<mj-section><mj-column><mj-text title="[[ theme.text ]] <x-each">x</mj-text></mj-column></mj-section>', {},
     "t.mjml:1:71"),
])
def test_x_each_in_copy_is_refused_wherever_the_copy_is(tmp_path, body, components, where):
    comps = {k: component(tmp_path, k, v) for k, v in components.items()}
    with pytest.raises(MailwrightError) as e:
        compose(tmp_path, body, comps)
    d = e.value.diagnostics[0]
    assert "<x-each> repeats MJML elements" in d.message
    assert f"{Path(d.pos.path).name}:{d.pos.line}:{d.pos.col}" == where


def test_a_brand_default_names_the_first_key_the_project_lacks(tmp_path):
    sig = component(tmp_path, "sig", '<x-component who="[[ brand.company ]] [[ brand.city ]]">'
                                     '<mj-text>[[ who ]]</mj-text></x-component>')
    with pytest.raises(MailwrightError) as e:
        compose(tmp_path, "<x-sig/>", {"sig": sig}, {"company": "Co"})
    assert "takes who from [brand] city" in e.value.diagnostics[0].message
    _, root = compose(tmp_path, '<x-sig who="given"/>', {"sig": sig}, {})  # given at the use: not needed
    assert text_of(root.children[0].children[0]) == "given"
    _, root = compose(tmp_path, "<x-sig/>", {"sig": sig}, {"company": "Co", "city": "X&Y"})
    assert text_of(root.children[0].children[0]) == "Co X&amp;Y"


def test_a_changed_component_file_is_read_afresh(tmp_path):
    """What a component needs rebuilt lives with the loaded component: a reload (watch) sees the change."""
    first = component(tmp_path, "card", CARD)
    second = component(tmp_path, "card", CARD.replace("Hi [[ who ]]", "Bye [[ who ]]").replace('color="red"',
                                                                                            'color="[[ who ]]"'))
    c = Composer({"card": first}, None)
    one = c.expand(parse(tmp_path / "t.mjml", BODY.format('<x-card who="A"/>')), [tmp_path])
    c.components = {"card": second}
    two = c.expand(parse(tmp_path / "u.mjml", BODY.format('<x-card who="B"/>')), [tmp_path])
    t1, t2 = (r.children[0].children[0].children[0].children[0] for r in (one, two))
    assert (text_of(t1), t1.attrs["color"].value[0].text) == ("Hi A", "red")
    assert (text_of(t2), t2.attrs["color"].value[0].text) == ("Bye B", "B")


def test_an_include_is_resolved_when_it_is_all_a_template_has_at_build_time(tmp_path):
    card = component(tmp_path, "card", CARD)
    (tmp_path / "part.mjml").write_text('<x-card who="Inc"/>')
    _, root = compose(tmp_path, '<mj-include path="part.mjml"/>', {"card": card})
    text = root.children[0].children[0].children[0].children[0]
    assert (text.tag, text_of(text), text.pos.path) == ("mj-text", "Hi Inc", str(tmp_path / "card.mjml"))


def test_a_value_that_is_one_parameter_takes_the_given_chunks(tmp_path):
    btn = component(tmp_path, "btn", '<x-component label="Go"><mj-button href="[[ label ]]">[[ label ]]</mj-button>'
                                     '</x-component>')
    _, root = compose(tmp_path, '<x-btn label="Hi {{ profile.name }}"/>', {"btn": btn})
    button = root.children[0].children[0]
    for chunks in (button.content, button.attrs["href"].value):
        assert [(type(c).__name__, getattr(c, "text", getattr(c, "src", ""))) for c in chunks] == [
            ("Lit", "Hi "), ("Tag", "profile.name")]


def test_one_unknown_parameter_is_copy_in_a_template_and_an_error_in_a_component(tmp_path):
    c, root = compose(tmp_path, '<mj-text css-class="[[ FirstName ]]">[[ FirstName ]]</mj-text>', {})
    text = root.children[0].children[0]
    assert text_of(text) == text.attrs["css-class"].value[0].text == "[[ FirstName ]]"
    assert [w.message for w in c.warnings] == ["'[[ FirstName ]]' is not a build-time parameter here: it is kept "
                                               "as copy"]
    odd = component(tmp_path, "odd", '<x-component><mj-text css-class="[[ nope ]]">x</mj-text></x-component>')
    with pytest.raises(MailwrightError) as e:
        compose(tmp_path, '<x-odd/>', {"odd": odd})
    d = e.value.diagnostics[0]
    assert (d.message, d.pos.line, d.pos.col) == ("unknown parameter '[[ nope ]]'", 1, 34)
    assert [(n.line, n.col, m) for n, m in d.notes] == [(1, 16, "in component 'odd' used here")]


def test_theme_and_brand_win_over_a_parameter_of_the_same_name(tmp_path):
    odd = component(tmp_path, "odd", '<x-component theme.text="param" brand.company="param">'
                                     '<mj-text color="[[ theme.text ]]">[[ brand.company ]]</mj-text></x-component>')
    _, root = compose(tmp_path, "<x-odd/>", {"odd": odd}, {"company": "Co"})
    text = root.children[0].children[0]
    assert (text.attrs["color"].value[0].text, text_of(text)) == (default_theme().tokens["text"], "Co")


@pytest.mark.parametrize("root", ["<x-empty/>", "<x-note/>", '<x-each var="a" in="">x</x-each>'])
def test_a_template_whose_root_gives_no_element_is_one_located_error(tmp_path, root):
    comps = {"empty": component(tmp_path, "empty", "<x-component></x-component>"),
             "note": component(tmp_path, "note", "<x-component><!-- hi --><mj-section></mj-section></x-component>")}
    with pytest.raises(MailwrightError) as e:
        Composer(comps, None).expand(parse(tmp_path / "t.mjml", root), [tmp_path])
    d = e.value.diagnostics[0]
    assert (Path(d.pos.path).name, d.pos.line, d.pos.col) == ("t.mjml", 1, 1)
    assert d.message == f"a template's root element is <mjml>, not <{root[1:].split()[0].rstrip('/>')}>"


@pytest.mark.parametrize("copy, text", [("Hi {{ profile.name }}", "Hi "), ("Hi [[ brand.company ]]", "Hi Co")])
def test_html_given_to_a_slot_in_text_is_resolved_when_it_holds_build_time(tmp_path, copy, text):
    box = component(tmp_path, "box", "<x-component><mj-text><x-slot/></mj-text></x-component>")
    _, root = compose(tmp_path, f"<x-box>{copy}</x-box>", {"box": box}, {"company": "Co"})
    assert text_of(root.children[0].children[0]) == text


def test_x_each_in_html_given_to_a_slot_is_refused(tmp_path):
    box = component(tmp_path, "box", "<x-component><mj-text><x-slot/></mj-text></x-component>")
    with pytest.raises(MailwrightError, match="<x-each> repeats MJML elements"):
        compose(tmp_path, '<x-box>Hi <x-each var="a" in="b">x</x-each></x-box>', {"box": box})
