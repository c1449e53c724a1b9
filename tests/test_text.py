"""The plain-text part (mailwright.text): what each rule makes of a page, and a page of any depth."""

from __future__ import annotations

from mailwright.text import fragment_to_text, html_to_text

SLOT = "mwXn"  # the placeholder prefix


def text(body: str, head: str = "<style>p { color: red }</style><title>T</title>") -> str:
    page = f"<!doctype html><html><head>{head}</head><body>{body}</body></html>"
    return html_to_text(page, SLOT, lambda i: f"<{i}>", lambda i, after="": f"<url{i}>")


def test_blocks_break_lines_and_the_head_and_hidden_elements_are_dropped():
    body = ('<div style="display: none; max-height:0">preheader</div><table><tr><td><p>One &amp; two</p>'
            '<p>Three<br>four</p></td></tr></table><script>x()</script>')
    assert text(body) == "One & two\n\nThree\nfour\n"


def test_links_keep_their_url_and_a_linked_image_its_alt():
    body = ('<p>See <a href=" https://a.test/x?y=1&amp;z=2 ">the <b>new</b>  range</a>, '
            '<a href="https://a.test/"><img src="i.png" alt="Our  logo"></a> '
            '<a href="#top">top</a> <a href="https://b.test/">https://b.test/</a></p>')
    assert text(body) == ("See the new range (https://a.test/x?y=1&z=2),  Our logo (https://a.test/) top "
                          "https://b.test/\n")


def test_placeholders_become_tokens_in_copy_and_in_urls():
    body = '<p>Hi <!--mwXn3x-->!</p><p><a href="https://s.test/?u=mwXn4x">go</a></p><!--not a slot-->'
    assert text(body) == "Hi <3>!\n\ngo (https://s.test/?u=<url4>)\n"


def test_only_prefix_digits_x_is_a_placeholder_comment():
    body = ("<p><!--mwXn3x--> <!--mwXn--> <!--mwXnx--> <!--mwXn3--> <!--mwXn3xx--> <!-- mwXn3x--> <!--mwXn\u00b2x-->"
            " <!--mwXn\u0663x--> <!--mwXn-1x--> <!--xmwXn3x--> <!----><!--mwXn34-->|</p>")
    # lexbor strips a comment's spaces; the Arabic-Indic digit three is a digit (as \\d and int() read it)
    assert text(body) == "<3>     <3>  <3>   |\n"


def test_each_placeholder_of_a_url_is_told_what_follows_it():
    page = '<a href=" https://s.test/mwXn1x?a=mwXn22x&b=<!--mwXn3x-->%41 mwXnx mwXn4 ">go</a>'
    got = html_to_text(page, SLOT, str, lambda i, after: f"[{i}:{after}]")
    assert got == ("go (https://s.test/[1:?a=mwXn22x&b=<!--mwXn3x-->%41 mwXnx mwXn4]?a=[22:&b=<!--mwXn3x-->%41 mwXnx "
                   "mwXn4]&b=[3:%41 mwXnx mwXn4]%41 mwXnx mwXn4)\n")


def test_a_page_of_any_depth():
    assert text("<div>" * 5000 + "deep" + "</div>" * 5000) == "deep\n"
    assert html_to_text("", SLOT, str) == "\n"


def test_a_passthrough_fragment_keeps_the_esps_syntax():
    assert fragment_to_text('{% if x %}<a href="{{ url }}">Shop</a>{% endif %}') == \
        "{% if x %}Shop ({{ url }}){% endif %}"


def test_a_fragment_keeps_a_linked_image_only_and_drops_hidden_copy_however_written():
    fragment = '<a href="u"><img alt="Logo"></a> <img alt="Not linked"> <span STYLE="DISPLAY: none">hidden</span>shown'
    assert fragment_to_text(fragment) == " Logo (u)  shown"


def test_hidden_however_written_and_elements_without_a_style():
    body = ('<div style="DISPLAY : NONE">upper</div><p style="display:\tnone">tab</p>'
            '<div class="k">classed</div><div style>bare</div><div style="color: navy">styled</div>')
    assert text(body) == "tab\n\nclassed\n\nbare\n\nstyled\n"


def test_copy_whitespace_of_every_kind_is_one_space():
    body = "<p>a&nbsp;&nbsp;b</p><p>c\td\u2028e</p><p>f  g</p><p>plain copy</p>"
    assert text(body) == "a b\n\nc d e\n\nf g\n\nplain copy\n"


def test_empty_elements_still_count():
    body = '<p>a</p><p></p><p><a href="https://e.test/"></a><br>b</p><div><a href="#x"></a></div>c<hr>d<div></div>e'
    assert text(body) == "a\n\nhttps://e.test/\nb\n\nc\nd\n\ne\n"


def test_foreign_content_and_a_hidden_root():
    assert text('<svg><a href="u"><text>svg link</text></a><style>x</style></svg>') == "svg link (u)\n"
    page = '<!--mwXn1x--><html style="display:none"><body><p>gone</p></body></html>'
    assert html_to_text(page, SLOT, lambda i: f"<{i}>") == "<1>\n"
