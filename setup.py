"""Packaging beyond what pyproject.toml can say: the top-level models/ and experiments/ folders ship inside the
package (as simcache.models and simcache.experiments), so an installed simcache finds them."""

from setuptools import find_namespace_packages, setup

setup(
    packages=[*find_namespace_packages(include=["simcache*"]), "simcache.models", "simcache.models.scenarios",
              "simcache.experiments"],
    package_dir={"simcache.models": "models", "simcache.experiments": "experiments"},
    package_data={"simcache": ["py.typed"], "simcache.experiments": ["*.toml"]},
)
