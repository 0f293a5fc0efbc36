"""codeview reads compiled code: the tests feed it listings whose answer is known."""
import platform

import pytest

from kernlab import codeview
from kernlab.cli import main
from kernlab.declaration import ParamError

x86_only = pytest.mark.skipif(platform.machine() not in ("x86_64", "AMD64"), reason="reads x86 assembly")

LOOP = """op:
\tmovq\t(%rdi), %rax
.LBB0_1:
\tvpbroadcastd\t%eax, %ymm0
\tvpcmpeqd\t(%rsi), %ymm0, %ymm1
\tvpmovmskb\t%ymm1, %ecx
\ttestl\t%ecx, %ecx
\tje\t.LBB0_1
\tvaddsd\t%xmm0, %xmm1, %xmm2
\tretq
.Lfunc_end0:
"""


def test_a_packed_compare_inside_a_loop_is_vectorised():
    summary = codeview.vector_summary(LOOP)
    assert summary == {"xmm": 0, "ymm": 3, "zmm": 0, "packed_compares": 1, "vectorised": True}
    assert "3 ymm" in codeview.summary_line(summary)


def test_scalar_code_in_vector_registers_and_straight_line_vectors_are_not_a_vectorised_loop():
    straight = LOOP.replace("\tje\t.LBB0_1\n", "")  # no backward jump: no loop
    assert codeview.vector_summary(straight)["vectorised"] is False
    scalar = "f:\n.L1:\n\tvaddsd\t%xmm0, %xmm1, %xmm2\n\tvmovq\t%xmm0, %rax\n\tjne\t.L1\n"
    assert codeview.vector_summary(scalar) == {"xmm": 0, "ymm": 0, "zmm": 0, "packed_compares": 0,
                                               "vectorised": False}


def test_the_loop_span_runs_from_its_label_to_the_backward_jump():
    assert codeview.loops(LOOP) == [(2, 7)]


@x86_only
def test_a_cas_op_shows_its_locked_instruction_and_its_ir_ordering():
    asm = codeview.op_function(codeview.op_code("counter", "cas"))
    assert asm.splitlines()[0].endswith(":") and "cpython" not in asm
    assert any("lock" in line and "cmpxchg" in line for line in codeview.ordering_lines(asm))
    ir = codeview.op_function(codeview.op_code("counter", "atomic", "llvm"))
    assert ir.startswith("define ") and ir.endswith("}")
    assert any("atomicrmw add" in line and "monotonic" in line for line in codeview.ordering_lines(ir))
    # the racy increment is a relaxed load then a relaxed store: two lines, no read-modify-write
    racy = codeview.ordering_lines(codeview.op_function(codeview.op_code("counter", "racy", "llvm")))
    assert len(racy) == 2 and "load atomic" in racy[0] and racy[1].startswith("store atomic")
    assert not any("atomicrmw" in line for line in racy)


def test_marked_and_side_by_side_highlight_the_same_lines():
    text = codeview.marked(LOOP)
    assert sum(line.startswith(">> ") for line in text.splitlines()) == 3
    page = codeview.side_by_side({"simd": LOOP, "scalar <x>": "f:\n\tretq\n"})
    assert page.count("<mark>") == 3 and "scalar &lt;x&gt;" in page


def test_a_bad_kind_is_one_line_naming_the_choices():
    with pytest.raises(ParamError, match="kind must be one of asm, llvm"):
        codeview.op_code("counter", "cas", kind="ptx")


@x86_only
def test_cli_asm_prints_the_listing_and_the_summary(capsys):
    assert main(["asm", "counter", "--variant", "cas"]) == 0
    out = capsys.readouterr().out
    assert ">> " in out and "# vector instructions:" in out and "# memory-ordering lines: 2" in out
    assert main(["asm", "counter", "--variant", "nope"]) == 2


@x86_only
def test_compiled_code_shows_variants_side_by_side():
    import kernlab
    code = kernlab.compiled_code("counter", ["cas", "racy"])
    assert set(code.summaries()) == {"cas", "racy"}
    assert len(code.ordering()["cas"]) == 2 and code.ordering()["racy"] == []  # x86 plain movs
    assert code._repr_html_().count("<b>") == 2 and "== counter / racy (asm)" in str(code)


def test_listing_reads_code_compiled_here_and_recompiles_code_from_the_disk_cache():
    """codeview.listing shows a dispatcher's own code when this process compiled it, and
    compiles afresh when numba only has cached code (which it inspects as a warning and
    an invalid listing)."""
    import warnings

    import numba

    @numba.njit(cache=False)
    def plus_one(x):
        return x + 1

    sig = (numba.int64,)
    here = codeview.listing(plus_one, sig)
    assert "plus_one" in here and "Inspection disabled" not in here

    class FromCache:                      # what numba does for code loaded from its cache
        py_func = staticmethod(plus_one.py_func)

        def compile(self, sig):
            pass

        def inspect_asm(self, sig):
            warnings.warn("Inspection disabled for cached code. Invalid result is returned.", stacklevel=2)
            return "invalid"

    assert "plus_one" in codeview.listing(FromCache(), sig)
