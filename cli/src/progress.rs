//! Progress bars (indicatif) for the core's `Reporter`: hidden when stderr is not a terminal or with
//! `--quiet`; log lines go to stderr with a timestamp-free `info:` prefix.

use cvat_core::progress::Reporter;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::sync::Mutex;

pub struct Bars {
    multi: MultiProgress,
    bars: Mutex<Vec<Option<ProgressBar>>>,
    draw: bool,
    quiet: bool,
}

impl Bars {
    pub fn new(quiet: bool) -> Bars {
        let draw = !quiet && std::io::stderr().is_terminal();
        let multi = MultiProgress::with_draw_target(if draw {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        });
        Bars {
            multi,
            bars: Mutex::new(Vec::new()),
            draw,
            quiet,
        }
    }

    fn with_bar(&self, id: usize, f: impl FnOnce(&ProgressBar)) {
        if let Ok(bars) = self.bars.lock() {
            if let Some(Some(b)) = bars.get(id) {
                f(b);
            }
        }
    }
}

impl Reporter for Bars {
    fn start(&self, what: &str, total: Option<u64>) -> usize {
        let bar = if !self.draw {
            ProgressBar::hidden()
        } else {
            match total {
                Some(t) => {
                    let b = self.multi.add(ProgressBar::new(t));
                    let style = if what.starts_with("downloading") || what.starts_with("uploading")
                    {
                        ProgressStyle::with_template(
                            "{msg:30} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} {eta}",
                        )
                    } else {
                        ProgressStyle::with_template("{msg:30} [{bar:30}] {pos}/{len} {elapsed}")
                    };
                    if let Ok(s) = style {
                        b.set_style(s.progress_chars("=> "));
                    }
                    b
                }
                None => {
                    let b = self.multi.add(ProgressBar::new_spinner());
                    b.enable_steady_tick(std::time::Duration::from_millis(120));
                    b
                }
            }
        };
        bar.set_message(what.to_string());
        let mut bars = self.bars.lock().unwrap_or_else(|e| e.into_inner());
        bars.push(Some(bar));
        bars.len() - 1
    }

    fn advance(&self, id: usize, delta: u64) {
        self.with_bar(id, |b| b.inc(delta));
    }

    fn set(&self, id: usize, pos: u64) {
        self.with_bar(id, |b| b.set_position(pos));
    }

    fn message(&self, id: usize, msg: &str) {
        self.with_bar(id, |b| b.set_message(msg.to_string()));
    }

    fn finish(&self, id: usize) {
        if let Ok(mut bars) = self.bars.lock() {
            if let Some(slot) = bars.get_mut(id) {
                if let Some(b) = slot.take() {
                    b.finish_and_clear();
                }
            }
        }
    }

    fn log(&self, msg: &str) {
        if self.quiet {
            return;
        }
        if self.draw {
            let _ = self.multi.println(format!("info: {msg}"));
        } else {
            eprintln!("info: {msg}");
        }
    }
}
