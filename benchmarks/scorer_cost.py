"""Yes/no scorer throughput, and the saving from sharing the image prefix between a frame's questions.

ZEAL asks two questions (start, end) per frame and class. The scorer encodes the prompt up to the
question (chat header, image tokens, context sentence) once per frame and reuses its key/value cache
for both questions ("shared"); the baseline runs one full forward pass per question ("separate").
Both score the same frames and questions; rounds are interleaved so both see the same machine
load, and the answers are checked to agree.

Random weights, nothing downloaded: ``--size tiny`` is the test configuration; ``--size
smolvlm-256m`` is SmolVLM-256M-Instruct's architecture (SigLIP-B/16 at 512 px tiles, SmolLM2-135M),
for a GPU run:

    python benchmarks/scorer_cost.py                       # tiny model on the CPU
    python benchmarks/scorer_cost.py --device cuda --size smolvlm-256m
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

from fiftyone_videogem.temporal.scorer import YesNoScorer

QUESTIONS = (
    "Is the person bending the knees and raising the ball to start a basketball dunk?",
    "Is the person hanging from the rim or landing after a basketball dunk?",
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--size", default="tiny", choices=["tiny", "smolvlm-256m"])
    parser.add_argument("--family", default="idefics3", choices=["idefics3", "qwen2_vl"])
    parser.add_argument("--dtype", default=None, help="fp32, fp16 or bf16 (default: bf16 on CUDA, fp32 on CPU)")
    parser.add_argument("--frames", type=int, default=8, help="frames per call (THUMOS-size 320x240 frames)")
    parser.add_argument("--batch", type=int, default=8, help="frames per forward pass")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    scorer = YesNoScorer.from_config(args.family, device=args.device, dtype=args.dtype, size=args.size,
                                     batch_size=args.batch)
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 256, (240, 320, 3), dtype=np.uint8) for _ in range(args.frames)]
    context = "basketball dunk"
    before, after = scorer.prompt_parts(context)
    prefix_tokens = scorer.processor(text=[before], images=[[frames[0]]], return_tensors="pt")["input_ids"].shape[1]
    suffix_tokens = [len(scorer.tokenizer(q + after, add_special_tokens=False)["input_ids"]) for q in QUESTIONS]

    def sync():
        if scorer.device.type == "cuda":
            torch.cuda.synchronize()

    def run(share_prefix: bool) -> tuple[float, np.ndarray]:
        sync()
        start = time.perf_counter()
        scores = scorer.score(frames, QUESTIONS, context=context, share_prefix=share_prefix)
        sync()
        return time.perf_counter() - start, scores

    run(True)  # warm-up
    run(False)
    shared_times, separate_times, ratios, differences = [], [], [], []
    for _ in range(args.repeats):
        t_shared, s_shared = run(True)
        t_separate, s_separate = run(False)
        shared_times.append(t_shared)
        separate_times.append(t_separate)
        ratios.append(t_separate / t_shared)
        differences.append(float(np.abs(s_shared - s_separate).max()))

    answers = len(frames) * len(QUESTIONS)
    ts, tp = statistics.median(shared_times), statistics.median(separate_times)
    parameters = sum(p.numel() for p in scorer.model.parameters())
    print(f"device={scorer.device} dtype={str(scorer.dtype).replace('torch.', '')} torch={torch.__version__} "
          f"threads={torch.get_num_threads()} model={scorer.name} ({parameters / 1e6:.1f}M parameters)")
    print(f"{len(frames)} frames of 320x240 x {len(QUESTIONS)} questions, batches of {args.batch} frames; "
          f"prompt: {prefix_tokens} tokens before the question, {suffix_tokens} from it on "
          f"(medians of {args.repeats} interleaved rounds)")
    print(f"shared image prefix : {ts * 1e3:9.1f} ms  {answers / ts:8.2f} answers/s  {len(frames) / ts:8.2f} frames/s")
    print(f"separate questions  : {tp * 1e3:9.1f} ms  {answers / tp:8.2f} answers/s  {len(frames) / tp:8.2f} frames/s")
    print(f"saving from sharing the prefix (separate / shared): {statistics.median(ratios):.2f}x "
          f"(rounds: {', '.join(f'{r:.2f}' for r in ratios)}; target >= 1.7x)")
    print(f"largest difference between the two ways' p(yes): {max(differences):.2e}")


if __name__ == "__main__":
    main()
