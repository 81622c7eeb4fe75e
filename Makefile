# Two entry points for a newcomer (README): `make reproduce` and `make test`.
# Both build .venv first when it is missing or older than the package metadata.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
OUT ?= results
PIP_FLAGS ?=   # more flags of the package install (.ci/run: --no-compile)

.PHONY: venv reproduce test docs bench export readme check-sync lint clean

$(BIN)/hdexpr: settings.ini setup.py constraints.txt
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q -U pip
	$(BIN)/pip install -q $(PIP_FLAGS) -c constraints.txt -e ".[dev]"
	touch $(BIN)/hdexpr

venv: $(BIN)/hdexpr

reproduce: venv
	$(BIN)/hdexpr reproduce --out $(OUT)

test: venv
	$(BIN)/python -m pytest tests -p no:cacheprovider -ra --durations=15

# The docs site from the same notebooks, without Quarto: Sphinx + myst-nb into _docs/ (docs/build.py)
docs: venv
	$(BIN)/python docs/build.py

# Every benchmark side by side, into bench_report.json / .md (bench/run_all.py; drop --quick for the full sizes)
bench: venv
	$(BIN)/python bench/run_all.py --quick --out bench_report

export: venv
	$(BIN)/nbdev_export
	$(BIN)/nbdev_clean
	$(MAKE) readme

# README.md is index.ipynb as Markdown (nbdev_readme needs Quarto, which cannot be installed offline)
readme: venv
	$(BIN)/jupyter nbconvert --log-level=WARN --to markdown nbs/index.ipynb --output-dir . --output README
	sed -i 's#](images/#](nbs/images/#g' README.md   # images live beside the notebook

check-sync: export
	@git diff --exit-code --stat -- hdexpr nbs README.md || { echo "nbdev_export / nbdev_clean changed tracked files: run 'make export' and commit"; exit 1; }
	@test -z "$$(git status --porcelain --untracked-files=all -- hdexpr)" || { git status --porcelain -- hdexpr; echo "nbdev_export produced untracked modules: commit them"; exit 1; }

# pyflakes-class errors (unused or undefined names, syntax) in the package, the benchmarks, the tests and the docs build
lint: venv
	$(BIN)/ruff check --select F,E9 hdexpr bench tests docs

clean:
	rm -rf _proc _docs _docs_screens build *.egg-info bench_report.json bench_report.md
