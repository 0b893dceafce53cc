# Thin entry points; the logic lives in tools/*.sh and the `zkai` command.
.PHONY: setup demo test bench clean

setup:
	bash tools/setup.sh

demo: setup
	.venv/bin/zkai demo

test:
	bash tools/test.sh

bench: setup
	.venv/bin/zkai bench

clean:
	rm -rf .build contracts/.cache .zkai-test
