"""Panel registry: each panel module registers its class; unbuilt panels do not appear."""

from __future__ import annotations

import importlib

from studio.panels.base import Panel

# Display order in the main window.
PANEL_MODULES = (
    "studio.panels.latent",
    "studio.panels.stylemix",
    "studio.panels.inpaint",
    "studio.panels.attributes",
    "studio.panels.speech_attributes",
    "studio.panels.spectral",
    "studio.panels.evaluation",
    "studio.panels.train",
    "studio.panels.models",
)

_registered: dict[str, type[Panel]] = {}


def register_panel(cls: type[Panel]) -> type[Panel]:
    """Class decorator: make a panel appear in the main window."""
    _registered[cls.name] = cls
    return cls


def registered_panels() -> list[type[Panel]]:
    """Panel classes in display order (importing their modules registers them)."""
    for mod in PANEL_MODULES:
        importlib.import_module(mod)
    order = {m.rsplit(".", 1)[1]: i for i, m in enumerate(PANEL_MODULES)}
    return sorted(_registered.values(), key=lambda c: order.get(c.__module__.rsplit(".", 1)[1], 99))
