"""The widgets' plain callbacks, the plots and the figure command."""

import hashlib
import io

import ipywidgets as W
import pytest
from matplotlib.figure import Figure

from rlhf_edu import figures, plots, widgets


def test_sequence_readout():
    text = widgets.sequence_readout(0.8, 0.7, 0.9)
    assert "= 0.5040" in text and "-0.6852" in text


def test_bt_readout():
    assert "0.881" in widgets.bt_readout(2.0) and "0.127" in widgets.bt_readout(2.0)
    assert "1000.000" in widgets.bt_readout(-1000.0)  # stable, not inf


def test_pg_readout():
    assert "0.301 -> 0.618 (raised)" in widgets.pg_readout(2.5)
    assert "0.301 -> 0.202 (lowered)" in widgets.pg_readout(-1.0)
    assert "(unchanged)" in widgets.pg_readout(0.0)


def test_ppo_readout():
    text = widgets.ppo_readout(0.5, -1.0, 0.2)
    assert "-0.800" in text and "picks clipped" in text and "zero gradient" in text
    assert "keeps pushing" in widgets.ppo_readout(1.5, -1.0, 0.2)


def test_kl_readout():
    assert "= 3.420" in widgets.kl_readout(3.5, 0.8, 0.1)
    assert "= 2.000" in widgets.kl_readout(3.5, 15.0, 0.1)


@pytest.mark.parametrize("build", [widgets.sequence_widget, widgets.bt_widget, widgets.pg_widget,
                                   widgets.ppo_widget, widgets.kl_widget])
def test_widget_builders_wire_sliders_to_the_readout(build):
    box = build()
    assert isinstance(box, W.VBox)
    *sliders, panel = box.children
    before = panel.value
    assert before.startswith("<pre>")
    sliders[0].value = sliders[0].min + sliders[0].step  # move the first slider
    assert panel.value != before


@pytest.mark.parametrize("name", sorted(figures.FIGURES))
def test_every_registered_figure_draws(name):
    fig = figures.FIGURES[name]()
    assert isinstance(fig, Figure) and fig.axes
    for ax in fig.axes:  # every panel has something drawn on it and says what it shows
        assert ax.get_lines() or ax.patches or ax.collections or ax.images, (name, ax)
        assert ax.get_title() or ax.get_xlabel() or ax.get_ylabel(), (name, ax)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=50)
    assert buf.getvalue()[:8] == b"\x89PNG\r\n\x1a\n" and len(buf.getvalue()) > 5_000


def test_ppo_plot_accepts_epsilon():
    assert len(plots.plot_ppo_clip_objective(epsilon=0.1).axes) == 2


def test_figure_names_carry_the_notebook_number():
    assert all(name[:2].isdigit() and name[2] == "_" for name in figures.FIGURES)


def test_figures_are_byte_for_byte_reproducible(tmp_path):
    def digests(out):
        figures.main(["--out", str(out), "--only", "02", "04"])
        return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(out.glob("*.png"))}

    first, second = digests(tmp_path / "a"), digests(tmp_path / "b")
    assert first == second and set(first) == {"02_bt_sigmoid_and_loss.png", "04_ppo_clip_objective.png"}
    assert b"Software" not in (tmp_path / "a" / "02_bt_sigmoid_and_loss.png").read_bytes()


def test_tqdm_monitor_thread_is_off():
    # Its late TqdmSynchronisationWarning once landed on stderr inside a checked notebook cell.
    import tqdm
    import tqdm.notebook

    import rlhf_edu  # noqa: F401
    assert tqdm.tqdm.monitor_interval == 0
    assert tqdm.notebook.tqdm.monitor_interval == 0


def test_reward_histogram_legend_has_a_fixed_place():
    # loc="best" over many bars can pass matplotlib's 1 s limit on a loaded machine, and its
    # warning on stderr then fails the notebook cell under nbval.
    import numpy as np

    rng = np.random.default_rng(0)
    fig = plots.plot_reward_by_label(rng.normal(size=600), rng.integers(0, 3, 600), ["neg", "neu", "pos"])
    ax = fig.axes[0]
    legend = ax.get_legend()
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    renderer = FigureCanvasAgg(fig).get_renderer()
    fig.draw(renderer)  # a fixed place: right of the axes, where no bar is, whatever the data
    assert legend is not None
    assert legend.get_window_extent(renderer).x0 >= ax.get_window_extent(renderer).x1 - 1
