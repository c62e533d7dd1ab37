"""The grammar text's lexer: comments, tokens and the alternatives of a rule, as :class:`Symbol`.

:mod:`~jahs_bo.spaces.grammar.text` parses a grammar line by line with these; every malformed
token raises :class:`~jahs_bo.exceptions.GrammarError` naming the line and column.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from jahs_bo.exceptions import GrammarError

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_TERMINAL_BODY = re.compile(r'[^\s()"#|]+')
_DIRECTIVE = re.compile(r"^\s*(start|shared|require)\s*:(.*)$")


@dataclass(frozen=True)
class Symbol:
    """One symbol of an alternative: a terminal (quoted in the text) or a nonterminal."""

    name: str
    terminal: bool

    def __str__(self) -> str:
        return f'"{self.name}"' if self.terminal else self.name


Alternative = tuple[Symbol, ...]


def _tokenize(line: str, lineno: int) -> list[tuple[str, str, int]]:
    """Split one line (comment already removed) into ``(kind, text, column)`` tokens.

    Kinds: ``name``, ``terminal``, ``arrow``, ``pipe``.
    """
    tokens: list[tuple[str, str, int]] = []
    i = 0
    while i < len(line):
        ch = line[i]
        if ch.isspace():
            i += 1
        elif line.startswith("->", i):
            tokens.append(("arrow", "->", i + 1))
            i += 2
        elif ch == "|":
            tokens.append(("pipe", "|", i + 1))
            i += 1
        elif ch == '"':
            end = line.find('"', i + 1)
            if end < 0:
                raise GrammarError(
                    f"line {lineno}, column {i + 1}: unterminated terminal {line[i:]!r}; "
                    'close it with a double quote, as in "conv3x3"'
                )
            body = line[i + 1 : end]
            if not _TERMINAL_BODY.fullmatch(body):
                raise GrammarError(
                    f"line {lineno}, column {i + 1}: invalid terminal {line[i : end + 1]!r}; a "
                    "terminal is a non-empty word without whitespace, parentheses, quotes, # or |"
                )
            tokens.append(("terminal", body, i + 1))
            i = end + 1
        else:
            match = _NAME.match(line, i)
            if match is None:
                raise GrammarError(
                    f"line {lineno}, column {i + 1}: unexpected character {ch!r}; expected a "
                    'nonterminal name, a quoted terminal, "->" or "|"'
                )
            tokens.append(("name", match.group(), i + 1))
            i = match.end()
    return tokens


def _strip_comment(line: str) -> str:
    """Remove a ``#`` comment (a ``#`` inside quotes is rejected later by the tokenizer)."""
    in_quote = False
    for i, ch in enumerate(line):
        if ch == '"':
            in_quote = not in_quote
        elif ch == "#" and not in_quote:
            return line[:i]
    return line


def _split_alternatives(
    tokens: list[tuple[str, str, int]], lhs: str, lineno: int
) -> list[Alternative]:
    """Turn the tokens right of ``->`` into alternatives; reject empty ones."""
    alternatives: list[Alternative] = []
    current: list[Symbol] = []
    for kind, text, col in [*tokens, ("pipe", "|", -1)]:
        if kind == "pipe":
            if not current:
                where = "at the end of the line" if col < 0 else f"at column {col}"
                raise GrammarError(
                    f"line {lineno}: empty alternative {where} in the production of {lhs}; "
                    "every alternative needs at least one symbol (remove the extra '|')"
                )
            alternatives.append(tuple(current))
            current = []
        elif kind == "arrow":
            raise GrammarError(
                f"line {lineno}, column {col}: a second '->' in the production of {lhs}; "
                "write one production per line"
            )
        else:
            current.append(Symbol(text, terminal=(kind == "terminal")))
    return alternatives
