"""Files in and out, knowing nothing of scenarios: reading, atomic writing, validation messages, provenance.

* :mod:`~peersim.io.files`: read input files, write outputs atomically, output directories;
* :mod:`~peersim.io.inputs`: the strict base of every input model and one humaniser of its errors;
* :mod:`~peersim.io.provenance`: versions and the digest of the model's source;
* :mod:`~peersim.io.templates`: Markdown reports rendered from Jinja2 templates;
* :mod:`~peersim.io.html`: self-contained HTML reports: figures as data URIs, pages from ``base.html.j2``.
"""
