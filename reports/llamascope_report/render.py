"""index.html (self-contained: inline CSS, images as relative files next to it, no network) and report.md."""
import html

CSS = """body{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
img{max-width:100%;border:1px solid #ddd}figure{margin:1.2em 0}figcaption{font-size:.9em;color:#555}
table{border-collapse:collapse;font-size:.85em;margin:.8em 0}td,th{border:1px solid #ccc;padding:2px 6px}
th{background:#f3f3f3}nav a{margin-right:1em}code{background:#f4f4f4;padding:0 3px}"""


def _md_cell(v):
    return str(v).replace("|", "\\|").replace("\n", " ")


def _inline(text):
    """`code` spans, escaped, for HTML."""
    parts = html.escape(text).split("`")
    return "".join(f"<code>{p}</code>" if i % 2 else p for i, p in enumerate(parts))


def write_html(path, title, summary, sections):
    out = [f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>",
           f"<style>{CSS}</style></head><body>", f"<h1>{html.escape(title)}</h1>",
           f"<p>{_inline(summary)}</p>", "<nav>"]
    out += [f"<a href=\"#{s.key}\">{html.escape(s.title)}</a>" for s in sections]
    out.append("</nav>")
    for s in sections:
        out.append(f"<section id=\"{s.key}\"><h2>{html.escape(s.title)}</h2>")
        out += [f"<p>{_inline(p)}</p>" for p in s.paragraphs]
        for f in s.figures:
            out.append(f"<figure><img src=\"figures/{f.name}.png\" alt=\"{html.escape(f.title)}\">"
                       f"<figcaption>{_inline(f.caption)} (<a href=\"figures/{f.name}.svg\">SVG</a>, "
                       f"<a href=\"figures/{f.name}.csv\">data</a>)</figcaption></figure>")
        for t in s.tables:
            if t.caption:
                out.append(f"<p><b>{html.escape(t.caption)}</b></p>")
            out.append("<table><tr>" + "".join(f"<th>{html.escape(str(h))}</th>" for h in t.header) + "</tr>")
            out += ["<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in t.rows]
            out.append("</table>")
        if s.links:
            out.append("<ul>" + "".join(f"<li><a href=\"{html.escape(href)}\">{html.escape(text)}</a></li>"
                                        for text, href in s.links) + "</ul>")
        out.append("</section>")
    out.append("</body></html>\n")
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(out))


def write_markdown(path, title, summary, sections):
    out = [f"# {title}", "", summary, ""]
    for s in sections:
        out += [f"## {s.title}", ""]
        for p in s.paragraphs:
            out += [p, ""]
        for f in s.figures:
            out += [f"![{f.title}](figures/{f.name}.png)", "",
                    f"*{f.caption}* ([SVG](figures/{f.name}.svg), [data](figures/{f.name}.csv))", ""]
        for t in s.tables:
            if t.caption:
                out += [f"**{t.caption}**", ""]
            out.append("| " + " | ".join(_md_cell(h) for h in t.header) + " |")
            out.append("|" + "---|" * len(t.header))
            out += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in t.rows]
            out.append("")
        for text, href in s.links:
            out.append(f"- [{text}]({href})")
        if s.links:
            out.append("")
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(out))
