"""Controls for one explanation configuration, generated from the engine's parameter declarations.

Nothing here names a segmenter, sampler or setting: every dropdown, slider and checkbox comes from the
fields of :class:`engine.explain.pipeline.ExplainConfig` and the ``Param`` declarations of each
component, so a new component or setting in the engine appears in the UI without touching this file.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any

import gradio as gr

from engine.explain.params import Param, params_of, title
from engine.explain.pipeline import PRESET_TITLES, PRESETS, ExplainConfig

WIDE_RANGE = 500  # numeric settings with a wider range get a number box instead of a slider


def control_for(param: Param, value: Any) -> gr.components.Component:
    """One input widget for a declared setting."""
    if param.kind == "bool":
        return gr.Checkbox(value=value, label=param.label, info=param.help or None)
    if param.kind == "choice":
        return gr.Dropdown(list(param.choices), value=value, label=param.label, info=param.help or None)
    low, high = float(param.low), float(param.high)  # type: ignore[arg-type]
    integer = param.kind == "int"
    if high - low > WIDE_RANGE:
        return gr.Number(value=value, minimum=low, maximum=high, precision=0 if integer else None,
                         label=param.label, info=param.help or None)
    step = 1 if integer else (param.step or round((high - low) / 200, 4))
    return gr.Slider(low, high, value=value, step=step, label=param.label, info=param.help or None)


@dataclass
class ConfigControls:
    """The widgets of one configuration column and how their values map to a config dict."""

    preset: gr.Dropdown
    config_json: gr.Code
    pickers: dict[str, gr.Dropdown] = field(default_factory=dict)  # config field -> component choice
    groups: dict[str, dict[str, gr.Group]] = field(default_factory=dict)  # field -> component -> its settings
    settings: dict[tuple[str, str, str], gr.components.Component] = field(default_factory=dict)
    scalars: dict[str, gr.components.Component] = field(default_factory=dict)
    defaults: dict[tuple[str, str, str], Any] = field(default_factory=dict)  # declared default of each setting

    @property
    def inputs(self) -> list[gr.components.Component]:
        """Every value-holding widget, in the order :meth:`config_from` and :meth:`values_for` use."""
        return [*self.pickers.values(), *self.settings.values(), *self.scalars.values()]

    def config_from(self, values: list[Any]) -> dict[str, Any]:
        """The configuration dict (``ExplainConfig.from_dict`` form) for widget ``values``."""
        by_widget = dict(zip(self.inputs, values))
        config: dict[str, Any] = {}
        for name in (f.name for f in dataclasses.fields(ExplainConfig)):
            if name in self.pickers:
                chosen = by_widget[self.pickers[name]]
                config[name] = {"name": chosen, **{setting: by_widget[widget]
                                                   for (owner, component, setting), widget in self.settings.items()
                                                   if owner == name and component == chosen}}
            else:
                config[name] = by_widget[self.scalars[name]]
        return config

    def values_for(self, config: ExplainConfig) -> list[Any]:
        """Widget values showing ``config`` (settings of components not chosen keep their defaults)."""
        values: list[Any] = [getattr(config, name).NAME for name in self.pickers]
        for owner, component, setting in self.settings:
            chosen = getattr(config, owner)
            values.append(getattr(chosen, setting) if chosen.NAME == component
                          else self.defaults[(owner, component, setting)])
        return values + [getattr(config, name) for name in self.scalars]

    def json_for(self, values: list[Any]) -> str:
        """The configuration as indented JSON text."""
        return json.dumps(self.config_from(values), indent=1)


def build_controls(prefix: str, preset: str) -> ConfigControls:
    """Create the widgets for one configuration, filled from ``PRESETS[preset]``, and wire their events."""
    start = PRESETS[preset]
    controls = ConfigControls(
        preset=gr.Dropdown([(PRESET_TITLES[k], k) for k in PRESETS], value=preset, label="Preset",
                           elem_id=f"explain-{prefix}-preset"),
        config_json=gr.Code(json.dumps(start.to_dict(), indent=1), language="json", interactive=False,
                            label="Configuration (JSON; `--config` of `python -m engine.explain`)", render=False),
    )
    with gr.Accordion("Full control", open=False):
        for config_field in dataclasses.fields(ExplainConfig):
            value = getattr(start, config_field.name)
            if "catalog" not in config_field.metadata:
                controls.scalars[config_field.name] = control_for(config_field.metadata["param"], value)
                continue
            catalog = config_field.metadata["catalog"]
            picker = gr.Dropdown([(title(catalog.get(n)), n) for n in catalog.names()], value=value.NAME,
                                 label=config_field.metadata["label"])
            controls.pickers[config_field.name] = picker
            controls.groups[config_field.name] = {}
            for name in catalog.names():
                declared = params_of(catalog.get(name))
                if not declared:
                    continue
                with gr.Group(visible=name == value.NAME) as group:
                    for setting, param, default in declared:
                        shown = getattr(value, setting) if name == value.NAME else default
                        controls.settings[(config_field.name, name, setting)] = control_for(param, shown)
                        controls.defaults[(config_field.name, name, setting)] = default
                controls.groups[config_field.name][name] = group
            groups = list(controls.groups[config_field.name].items())
            picker.change(lambda chosen, groups=groups: [gr.update(visible=n == chosen) for n, _ in groups],
                          picker, [g for _, g in groups], api_visibility="private")
    with gr.Accordion("As JSON", open=False):
        controls.config_json.render()
    inputs = controls.inputs
    gr.on([widget.input for widget in inputs], lambda *values: controls.json_for(list(values)), inputs,
          controls.config_json, api_visibility="private")
    controls.preset.input(lambda name: [*controls.values_for(PRESETS[name]),
                                        json.dumps(PRESETS[name].to_dict(), indent=1)],
                          controls.preset, [*inputs, controls.config_json], api_visibility="private")
    return controls
