"""Check any input file peersim reads, with the messages of the command that reads it.

``peersim validate`` and :func:`check_files` take scenario, costs, factors and
targets TOML files and posterior Parquet files, tell which kind each is from its
content (:func:`detect_kind`), and check each with the loader of the command that
reads that kind, so a file that passes here passes there and a file that fails
gets the very message the command would give. Every file is checked; one bad file
does not stop the others.
"""

from peersim.validation.check import KINDS, FileCheck, InputKind, check_file, check_files, detect_kind

__all__ = ["KINDS", "FileCheck", "InputKind", "check_file", "check_files", "detect_kind"]
