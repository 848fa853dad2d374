"""Offline stand-ins for hassfest, the HACS action and the quality-scale review.

Home Assistant does not check custom integrations, so these tests check what hassfest and
the HACS action would, plus the quality-scale rules that can be read from the code.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
import json
from pathlib import Path
import re
import struct
from typing import Any

from awesomeversion import AwesomeVersion
import pytest
import yaml

from custom_components.prepaid_sim import services
from custom_components.prepaid_sim.binary_sensor import BINARY_SENSORS
from custom_components.prepaid_sim.button import RENEW_BUTTON
from custom_components.prepaid_sim.calendar import EXPIRIES_KEY
from custom_components.prepaid_sim.issues import IssueKind
from custom_components.prepaid_sim.select import PACKAGE_SELECT
from custom_components.prepaid_sim.sensor import SENSORS
from custom_components.prepaid_sim.spend_sensor import SPENT_THIS_MONTH_KEY

ROOT = Path(__file__).parent.parent
INTEGRATION = ROOT / "custom_components" / "prepaid_sim"
LANGUAGES = ("en", "zh-Hans", "zh-Hant")

MANIFEST_KEYS = {
    "domain", "name", "after_dependencies", "codeowners", "config_flow", "dependencies",
    "documentation", "integration_type", "iot_class", "issue_tracker", "loggers",
    "quality_scale", "requirements", "single_config_entry", "version",
}  # fmt: skip
IOT_CLASSES = {
    "assumed_state", "calculated", "cloud_polling", "cloud_push", "local_polling",
    "local_push",
}  # fmt: skip
HACS_KEYS = {
    "name", "content_in_root", "country", "filename", "hacs", "hide_default_branch",
    "homeassistant", "persistent_directory", "render_readme", "zip_release",
}  # fmt: skip
QUALITY_RULES = {
    "action-setup", "appropriate-polling", "brands", "common-modules",
    "config-flow-test-coverage", "config-flow", "dependency-transparency", "docs-actions",
    "docs-high-level-description", "docs-installation-instructions",
    "docs-removal-instructions", "docs-triggers", "docs-conditions", "entity-event-setup",
    "entity-unique-id", "has-entity-name", "runtime-data", "test-before-configure",
    "test-before-setup", "unique-config-entry", "action-exceptions",
    "config-entry-unloading", "docs-configuration-parameters",
    "docs-installation-parameters", "entity-unavailable", "integration-owner",
    "log-when-unavailable", "parallel-updates", "reauthentication-flow", "test-coverage",
    "devices", "diagnostics", "discovery", "discovery-update-info", "docs-data-update",
    "docs-examples", "docs-known-limitations", "docs-supported-devices",
    "docs-supported-functions", "docs-troubleshooting", "docs-use-cases",
    "dynamic-devices", "entity-category", "entity-device-class",
    "entity-disabled-by-default", "entity-translations", "exception-translations",
    "icon-translations", "reconfiguration-flow", "repair-issues", "stale-devices",
    "async-dependency", "inject-websession", "strict-typing",
}  # fmt: skip
PLATFORM_MODULES = ("binary_sensor", "button", "select", "sensor")
PLACEHOLDER = re.compile(r"\{(\w+)\}")


def _json(path: Path) -> Any:
    """Load a JSON file."""
    return json.loads(path.read_text(encoding="utf-8"))


def _flatten(data: dict[str, Any], prefix: str = "") -> dict[str, str]:
    """Return every string of a nested dict by its dotted key."""
    flat: dict[str, str] = {}
    for key, value in data.items():
        if isinstance(value, dict):
            flat |= _flatten(value, f"{prefix}{key}.")
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _sources() -> Iterator[tuple[Path, ast.Module]]:
    """Yield every Python module of the integration, parsed."""
    for path in sorted(INTEGRATION.rglob("*.py")):
        yield path, ast.parse(path.read_text(encoding="utf-8"))


def _keyword_strings(name: str) -> set[str]:
    """Return every string literal passed as keyword ``name`` in the integration."""
    found: set[str] = set()
    for _, tree in _sources():
        for node in ast.walk(tree):
            if isinstance(node, ast.keyword) and node.arg == name:
                if isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
                    found.add(node.value.value)
    return found


def _string_literals() -> set[str]:
    """Return every string literal in the integration's code."""
    return {
        node.value
        for _, tree in _sources()
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
    }


EN = _json(INTEGRATION / "translations" / "en.json")


def test_manifest() -> None:
    """The manifest has hassfest's keys, sorted, with a valid version and URLs."""
    manifest = _json(INTEGRATION / "manifest.json")
    keys = list(manifest)
    assert set(keys) <= MANIFEST_KEYS
    assert keys[:2] == ["domain", "name"]
    assert keys[2:] == sorted(keys[2:])
    assert manifest["domain"] == INTEGRATION.name
    assert manifest["iot_class"] in IOT_CLASSES
    assert manifest["codeowners"]
    assert manifest["config_flow"] is True
    assert AwesomeVersion(manifest["version"]).valid
    for url_key in ("documentation", "issue_tracker"):
        assert manifest[url_key].startswith("https://")
    assert not manifest["documentation"].startswith("https://www.home-assistant.io")


def test_hacs_json() -> None:
    """hacs.json has only the keys HACS accepts and the minimum Home Assistant version."""
    hacs = _json(ROOT / "hacs.json")
    assert set(hacs) <= HACS_KEYS
    assert hacs["name"] == "Prepaid SIM"
    assert AwesomeVersion(hacs["homeassistant"]) >= AwesomeVersion("2026.10.0")
    assert len([p for p in (ROOT / "custom_components").iterdir() if p.is_dir()]) == 1


@pytest.mark.parametrize("language", LANGUAGES[1:])
def test_translations_in_step(language: str) -> None:
    """Every language has exactly the English keys, with the same placeholders."""
    english = _flatten(EN)
    other = _flatten(_json(INTEGRATION / "translations" / f"{language}.json"))
    assert set(other) == set(english)
    for key, text in english.items():
        assert set(PLACEHOLDER.findall(other[key])) == set(PLACEHOLDER.findall(text)), key


@pytest.mark.parametrize("language", LANGUAGES)
def test_translation_strings_follow_hassfest(language: str) -> None:
    """No references, no HTML, no stray spaces, valid keys, descriptions only for fields."""
    data = _json(INTEGRATION / "translations" / f"{language}.json")
    for key, text in _flatten(data).items():
        assert "[%key:" not in text, key
        assert text == text.strip(), key
        assert not re.search(r"<[a-z/][^>]*>", text), key
        assert "'{" not in text, key
        for part in key.split("."):
            assert re.fullmatch(r"[a-z0-9][a-z0-9_-]*[a-z0-9]|[a-z0-9]", part), key

    def steps(section: dict[str, Any]) -> Iterator[dict[str, Any]]:
        yield from section.get("step", {}).values()

    for step in [*steps(data["config"]), *steps(data["config_subentries"]["line"])]:
        assert set(step.get("data_description", {})) <= set(step.get("data", {}))


def test_exception_and_issue_keys_exist_and_are_used() -> None:
    """Every translation key raised by the code exists; none in the file is orphaned."""
    used = _keyword_strings("translation_key")
    literals = _string_literals()
    exceptions = set(EN["exceptions"])
    issues = set(EN["issues"])
    entity_keys = {key for platform in EN["entity"].values() for key in platform}
    selectors = set(EN["selector"])
    assert used <= exceptions | issues | entity_keys | selectors
    # Messages built from a key (voice answers, notifications) appear as literals or as
    # the base of a "_title" message.
    for key in exceptions:
        base = key.removesuffix("_title")
        assert key in literals or base in literals, f"exceptions.{key} is never used"
    # Issues are raised by kind: every kind has its text, and every kind is raised.
    assert issues == {kind.value for kind in IssueKind}
    sources = "\n".join(
        path.read_text(encoding="utf-8")
        for path in INTEGRATION.glob("*.py")
        if path.name != "issues.py"
    )
    for kind in IssueKind:
        assert re.search(rf"IssueKind\.{kind.name}\b", sources), f"issues.{kind} is never raised"


def test_entity_translations_and_icons() -> None:
    """Every entity description has a name and an icon; nothing extra is translated."""
    described = {
        "sensor": {d.translation_key for d in SENSORS} | {SPENT_THIS_MONTH_KEY},
        "binary_sensor": {d.translation_key for d in BINARY_SENSORS},
        "button": {RENEW_BUTTON.translation_key},
        "select": {PACKAGE_SELECT.translation_key},
        "calendar": {EXPIRIES_KEY},
    }
    icons = _json(INTEGRATION / "icons.json")
    for platform, keys in described.items():
        assert set(EN["entity"][platform]) == keys, platform
        for key in keys:
            assert EN["entity"][platform][key]["name"]
        assert set(icons["entity"][platform]) == keys, platform
    for platform in icons["entity"].values():
        for icon in platform.values():
            assert icon["default"].startswith("mdi:")
            for state_icon in icon.get("state", {}).values():
                assert state_icon.startswith("mdi:")
                assert state_icon != icon["default"]


def test_services_match_schemas_translations_and_icons() -> None:
    """services.yaml, the action schemas, the translations and icons describe the same."""
    described = yaml.safe_load((INTEGRATION / "services.yaml").read_text(encoding="utf-8"))
    schemas = {
        services.SERVICE_RENEW: services.RENEW_SCHEMA,
        services.SERVICE_LIST_PACKAGES: services.LIST_PACKAGES_SCHEMA,
        services.SERVICE_GET_RENEWALS: services.GET_RENEWALS_SCHEMA,
        services.SERVICE_CORRECT_LINE: services.CORRECT_LINE_SCHEMA,
    }
    icons = _json(INTEGRATION / "icons.json")["services"]
    assert set(described) == set(schemas) == set(EN["services"]) == set(icons)
    for name, schema in schemas.items():
        fields = {str(key) for key in schema.schema}
        assert set(described[name]["fields"]) == fields, name
        assert set(EN["services"][name]["fields"]) == fields, name
        assert EN["services"][name]["name"]
        assert EN["services"][name]["description"]
        assert icons[name]["service"].startswith("mdi:")


def test_providers_import_no_home_assistant() -> None:
    """The provider library could be published on its own."""
    for path, tree in _sources():
        if "providers" not in path.parts:
            continue
        for node in ast.walk(tree):
            names = (
                [alias.name for alias in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            for name in names:
                assert not name.startswith("homeassistant"), f"{path.name} imports {name}"
    assert (INTEGRATION / "providers" / "py.typed").exists()


def _png_size(path: Path) -> tuple[int, int]:
    """Return a PNG's width and height from its header."""
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n", f"{path.name} is not a PNG"
    width, height = struct.unpack(">II", header[16:24])
    return width, height


def test_brand_images() -> None:
    """The brand folder has the icon (256 px square) and a logo, as HACS checks."""
    assert _png_size(INTEGRATION / "brand" / "icon.png") == (256, 256)
    width, height = _png_size(INTEGRATION / "brand" / "logo.png")
    assert width >= height > 0


def test_quality_scale_file() -> None:
    """All 54 rules are listed; exemptions carry a reason; nothing is left to do."""
    rules = yaml.safe_load((INTEGRATION / "quality_scale.yaml").read_text(encoding="utf-8"))[
        "rules"
    ]
    assert set(rules) == QUALITY_RULES
    assert len(QUALITY_RULES) == 54
    for rule, status in rules.items():
        if isinstance(status, dict):
            assert status["status"] in ("done", "exempt"), rule
            if status["status"] == "exempt":
                assert len(status.get("comment", "")) > 20, rule
        else:
            assert status == "done", rule


def test_code_rules() -> None:
    """PARALLEL_UPDATES everywhere, actions in async_setup, no _attr_icon, typed entries."""
    for module in PLATFORM_MODULES:
        tree = ast.parse((INTEGRATION / f"{module}.py").read_text(encoding="utf-8"))
        assigned = {
            target.id
            for node in tree.body
            if isinstance(node, ast.Assign)
            for target in node.targets
            if isinstance(target, ast.Name)
        }
        assert "PARALLEL_UPDATES" in assigned, module
        setup = next(
            n
            for n in tree.body
            if isinstance(n, ast.AsyncFunctionDef) and n.name == "async_setup_entry"
        )
        assert ast.unparse(setup.args.args[1].annotation) == "PrepaidSimConfigEntry", module
    init = ast.parse((INTEGRATION / "__init__.py").read_text(encoding="utf-8"))
    setup_entry = next(
        n
        for n in init.body
        if isinstance(n, ast.AsyncFunctionDef) and n.name == "async_setup_entry"
    )
    assert "async_register" not in ast.unparse(setup_entry)
    assert "runtime_data" in ast.unparse(setup_entry)
    assert "CONFIG_SCHEMA" in ast.unparse(init)
    for path, tree in _sources():
        for node in ast.walk(tree):
            if isinstance(node, ast.Name | ast.Attribute):
                name = node.id if isinstance(node, ast.Name) else node.attr
                assert name != "_attr_icon", path.name
