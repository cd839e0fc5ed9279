"""`nhrpscope show ...`: what the routers would have printed, inferred from a capture."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar

import click

from nhrpscope.api import Result, parse_point
from nhrpscope.commands._edge import edges
from nhrpscope.commands._options import FILES, key_options
from nhrpscope.commands._output import replay
from nhrpscope.points import stamp

F = TypeVar("F", bound=Callable)


@click.group(short_help="What the routers would have printed (show dmvpn, ip nhrp, crypto).")
def show() -> None:
    """What the routers would have printed, inferred from a capture."""


def _view_options(f: F, router_help: str, metavar: str) -> F:
    f = click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
                     show_default=True)(f)
    f = click.option("--interface", default="Tunnel0", show_default=True,
                     help="The tunnel interface name to print (not visible on the wire).")(f)
    f = click.option("--at", "at", default=None, metavar="TIME|+SECONDS|frame:N",
                     help="The instant to show (default: the end of the capture).")(f)
    f = click.option("--router", default=None, metavar=metavar, help=router_help)(f)
    return f


def _show_options(f: F) -> F:
    return _view_options(f, "One router (default: every router).", "NBMA|TUNNEL")


def _views(files: tuple[str, ...], key_files: tuple[str, ...], esp_specs: tuple[str, ...],
           at: str | None, router: str | None, interface: str, fmt: str
           ) -> tuple[list[Any], Result]:
    from nhrpscope.render.show import router_views

    rp = _replay_at(files, key_files, esp_specs, at, fmt)
    return router_views(rp, router, interface), rp


def _replay_at(files: tuple[str, ...], key_files: tuple[str, ...], esp_specs: tuple[str, ...],
               at: str | None, fmt: str) -> Result:
    """The captures replayed up to --at; a point past the last frame is
    shown at that frame, with a note (on stderr beside JSON) that nothing
    after it is known."""
    rp = replay(files, key_files, esp_specs, stop=parse_point(at) if at else None)
    if rp.past_end is not None:
        note = (f"% nhrpscope: --at {at!r} ({stamp(rp.past_end)}) is past the capture's last "
                f"frame (frame {rp.end_frame}, {stamp(rp.end)}): nothing after it is known, so "
                f"this is the state at that frame")
        click.echo(note, err=fmt == "json")
    return rp


def _nothing(rp: Result, what: str, at: str | None) -> str:
    """The line said when there is nothing to show."""
    if at is None:
        return f"% nhrpscope: no {what} in this capture"
    return f"% nhrpscope: no {what} seen by --at {at!r} (frame {rp.end_frame}, {stamp(rp.end)})"


@show.command("dmvpn", short_help="Cisco IOS `show dmvpn` for each router.")
@FILES
@_show_options
@click.option("--detail", is_flag=True, help="show dmvpn detail.")
@key_options
def show_dmvpn(files: tuple[str, ...], router: str | None, at: str | None, interface: str,
               fmt: str, detail: bool, key_files: tuple[str, ...],
               esp_specs: tuple[str, ...]) -> None:
    """Cisco IOS `show dmvpn` for each router, as the capture shows it."""
    from nhrpscope.render import show as S

    with edges():
        views, rp = _views(files, key_files, esp_specs, at, router, interface, fmt)
        if fmt == "json":
            click.echo(json.dumps([S.dmvpn_json(v) for v in views], indent=2))
        elif not views:
            click.echo(_nothing(rp, "NHRP router", at))
        else:
            click.echo("\n\n".join(S.show_dmvpn(v, detail=detail) for v in views))


@show.command("nhrp", short_help="Cisco IOS `show ip nhrp` (or FRR's) for each router.")
@FILES
@_show_options
@click.option("--style", type=click.Choice(["cisco", "frr"]), default="cisco", show_default=True,
              help="cisco: show ip nhrp; frr: show ip nhrp cache and show ip nhrp nhs.")
@click.option("--shortcut", is_flag=True,
              help="show ip nhrp shortcut: the phase 3 entries (networks resolved behind a spoke).")
@key_options
def show_nhrp(files: tuple[str, ...], router: str | None, at: str | None, interface: str,
              fmt: str, style: str, shortcut: bool, key_files: tuple[str, ...],
              esp_specs: tuple[str, ...]) -> None:
    """Cisco IOS `show ip nhrp` (or FRR's cache and NHS tables) for each router;
    with --shortcut, `show ip nhrp shortcut` in either style."""
    from nhrpscope.render import show_nhrp as S

    with edges():
        views, rp = _views(files, key_files, esp_specs, at, router, interface, fmt)
        if fmt == "json":
            if style == "frr" and shortcut:
                doc: Any = [{"shortcut": S.frr_shortcut_json(v)} for v in views]
            elif style == "frr":
                doc = [{"cache": S.frr_cache_json(v), "nhs": S.frr_nhs_json(v)} for v in views]
            else:
                doc = [(S.shortcut_json if shortcut else S.nhrp_json)(v) for v in views]
            click.echo(json.dumps(doc, indent=2))
        elif not views:
            click.echo(_nothing(rp, "NHRP router", at))
        elif style == "frr" and shortcut:
            click.echo("\n\n".join(S.show_frr_shortcut(v) for v in views))
        elif style == "frr":
            click.echo("\n\n".join(S.show_frr_cache(v) + "\n\n" + S.show_frr_nhs(v) for v in views))
        else:
            show_one = S.show_ip_nhrp_shortcut if shortcut else S.show_ip_nhrp
            click.echo("\n\n".join(show_one(v) for v in views))


# --------------------------------------------------------------------- show crypto (issue 7)


@show.group("crypto", short_help="Cisco IOS `show crypto ...`: IKE and IPsec SAs.")
def show_crypto() -> None:
    """Cisco IOS `show crypto ...`: IKE and IPsec SAs, inferred from a capture."""


@show_crypto.group("isakmp")
def show_crypto_isakmp() -> None:
    """IKEv1 (ISAKMP) state."""


@show_crypto.group("ipsec")
def show_crypto_ipsec() -> None:
    """IPsec (ESP) state."""


def _crypto_options(f: F) -> F:
    f = _view_options(f, "One IPsec peer (default: every address in IKE or ESP).",
                      "ADDRESS|TUNNEL")
    return key_options(f)


@show_crypto_isakmp.command("sa", short_help="Cisco IOS `show crypto isakmp sa`.")
@FILES
@_crypto_options
def show_crypto_isakmp_sa(files: tuple[str, ...], router: str | None, at: str | None,
                          interface: str, fmt: str, key_files: tuple[str, ...],
                          esp_specs: tuple[str, ...]) -> None:
    """Cisco IOS `show crypto isakmp sa` for each IKE peer: dst, src, state
    (MM_NO_STATE ... QM_IDLE), conn-id, status, from the IKEv1 exchanges seen."""
    from nhrpscope.render import show_crypto as S

    _show_crypto(files, router, at, interface, fmt, key_files, esp_specs, S.isakmp_json,
                 S.show_crypto_isakmp_sa)


@show_crypto_ipsec.command("sa", short_help="Cisco IOS `show crypto ipsec sa`.")
@FILES
@_crypto_options
def show_crypto_ipsec_sa(files: tuple[str, ...], router: str | None, at: str | None,
                         interface: str, fmt: str, key_files: tuple[str, ...],
                         esp_specs: tuple[str, ...]) -> None:
    """Cisco IOS `show crypto ipsec sa` for each IPsec peer: per remote peer the
    inbound and outbound SPIs and #pkts encaps / decaps as seen at the tap."""
    from nhrpscope.render import show_crypto as S

    _show_crypto(files, router, at, interface, fmt, key_files, esp_specs, S.ipsec_json,
                 S.show_crypto_ipsec_sa)


def _show_crypto(files: tuple[str, ...], router: str | None, at: str | None, interface: str,
                 fmt: str, key_files: tuple[str, ...], esp_specs: tuple[str, ...],
                 as_json: Callable, as_text: Callable) -> None:
    """The body of the ``show crypto`` commands: one view per router, as
    JSON or in the router's layout."""
    from nhrpscope.render.show_crypto import result_crypto_views

    with edges():
        rp = _replay_at(files, key_files, esp_specs, at, fmt)
        views = result_crypto_views(rp, router, interface)
        if fmt == "json":
            click.echo(json.dumps([as_json(v) for v in views], indent=2))
        elif not views:
            click.echo(_nothing(rp, "IKE or ESP", at))
        else:
            click.echo("\n\n".join(as_text(v) for v in views))
