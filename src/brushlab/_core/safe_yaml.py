"""One YAML loader for descriptions from outside: size-capped, plain data, no alias bombs.

``yaml.safe_load`` builds plain data only, but it shares aliased nodes, so nine levels
of nine aliases ("billion laughs") load as a tiny graph that explodes into 9**9 nodes
in whatever walks it as a tree (``bioimageio.spec`` does). This loader composes the
node graph first, counts the nodes of the tree it stands for (each alias counted as a
full copy), refuses recursive documents and documents beyond a node budget, and only
then builds the Python data.
"""

from __future__ import annotations

from typing import Any

from brushlab.errors import BrushlabError

__all__ = ["MAX_YAML_BYTES", "MAX_YAML_NODES", "MAX_YAML_ALIASES", "load_yaml"]

MAX_YAML_BYTES = 2**20  # a model description is a few kB; 1 MiB is generous
MAX_YAML_NODES = 100_000  # scalars, lists and mappings, aliases expanded
MAX_YAML_ALIASES = 1_000


def load_yaml(
    data: bytes | str,
    *,
    where: str,
    error: type[BrushlabError] = BrushlabError,
    max_bytes: int = MAX_YAML_BYTES,
    max_nodes: int = MAX_YAML_NODES,
    max_aliases: int = MAX_YAML_ALIASES,
) -> Any:
    r"""Parse one YAML document into plain data, within size, node and alias budgets.

    Parameters
    ----------
    data : bytes or str
        The document.
    where : str
        What it is, for messages ("rdf.yaml in pkg.zip").
    error : type of BrushlabError
        Raised for every problem.
    max_bytes, max_nodes, max_aliases : int
        Budgets: the document's size, the nodes of its tree with every alias expanded,
        and the number of aliases (``*name``).

    Returns
    -------
    Any
        Plain data (dict, list, str, int, float, bool, None, datetime).

    Examples
    --------
    >>> load_yaml("a: [1, 2]\nb: &x {c: 3}\nd: *x\n", where="demo")
    {'a': [1, 2], 'b': {'c': 3}, 'd': {'c': 3}}
    >>> laughs = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    ...     f"{n}: &{n} [{', '.join(['*' + p] * 9)}]\n" for p, n in zip("abcdefgh", "bcdefghi"))
    >>> load_yaml(laughs, where="laughs.yaml")
    Traceback (most recent call last):
    ...
    brushlab.errors.BrushlabError: laughs.yaml expands to more than 100000 YAML nodes ...
    """
    import yaml

    size = len(data.encode("utf-8") if isinstance(data, str) else data)
    if size > max_bytes:
        raise error(
            f"{where} is {size} bytes, more than the {max_bytes} a model description may have: "
            "it is not a model description, or it embeds data that belongs in separate files"
        )
    try:
        loader = yaml.SafeLoader(data)  # decodes the stream: undecodable bytes fail here
    except yaml.YAMLError as exc:
        raise error(
            f"{where} is not valid YAML text ({' '.join(str(exc).split())}): fix the file or "
            "export the package again"
        ) from exc
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_budget(node, where, error, max_nodes, max_aliases)
        return loader.construct_document(node)
    except yaml.YAMLError as exc:
        raise error(
            f"{where} is not valid YAML ({' '.join(str(exc).split())}): fix the file or "
            "export the package again"
        ) from exc
    except RecursionError as exc:
        raise error(f"{where} is nested too deeply to be a model description") from exc
    finally:
        loader.dispose()


def _check_budget(
    root: Any, where: str, error: type[BrushlabError], max_nodes: int, max_aliases: int
) -> None:
    """Count the expanded tree of ``root`` (shared nodes count once per use)."""
    import yaml

    sizes: dict[int, int] = {}
    active: set[int] = set()
    uses: dict[int, int] = {}

    def count(node: Any) -> int:
        key = id(node)
        uses[key] = uses.get(key, 0) + 1
        if key in sizes:
            return sizes[key]
        if key in active:
            raise error(f"{where} refers to itself through a YAML alias; it cannot be used")
        active.add(key)
        total = 1
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                total += count(k) + count(v)
                if total > max_nodes:
                    break
        elif isinstance(node, yaml.SequenceNode):
            for item in node.value:
                total += count(item)
                if total > max_nodes:
                    break
        active.discard(key)
        if total > max_nodes:
            raise error(
                f"{where} expands to more than {max_nodes} YAML nodes (aliases counted as "
                "copies): it looks like an alias bomb ('billion laughs'); refusing it"
            )
        sizes[key] = total
        return total

    count(root)
    repeats = sum(n - 1 for n in uses.values())
    if repeats > max_aliases:
        raise error(
            f"{where} uses YAML aliases {repeats} times (at most {max_aliases} allowed): "
            "write the values out"
        )
