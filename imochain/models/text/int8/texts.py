"""Fixed texts of the int8 text mode, written for this project: one calibrates the static K/V
scales at export, the other (never seen by calibration) measures quality against fp32."""

# Chat prompts, so calibration sees the template's control tokens as served prompts do.
CALIBRATION_PROMPTS = (
    "The oracle answers questions about models, blocks and tokens. Explain how a challenge game "
    "catches a lying operator, step by step, with a short example.",
    "Write three sentences about the history of Paris, then list four numbers: 12, 345, 6789, 0.",
    "What is an Initial Model Offering? Holders of the model's token share the revenue it earns.",
)

# Plain prose for perplexity and next-token agreement (about 300 tokens with SmolLM2's tokenizer).
EVAL_TEXT = (
    "The small harbour town woke slowly on winter mornings. Before the sun rose over the hills, "
    "the fishing boats had already left, their lamps moving across the dark water like slow stars. "
    "In the bakery near the square, a woman named Clara folded dough and listened to the radio, "
    "which reported wind from the north and a chance of snow by the evening. Her son, who was "
    "nine, sat at the corner table with a notebook and tried to solve a puzzle his teacher had "
    "given the class: how many ways can you climb a staircase of ten steps if you may take one or "
    "two steps at a time? He wrote the first few answers down, one, two, three, five, eight, and "
    "noticed that each number was the sum of the two before it. When the first customers came in, "
    "shaking the cold from their coats, he showed them the pattern, and an old sailor laughed and "
    "said that the same numbers appear in the spirals of shells and the seeds of sunflowers. "
    "By noon the sky had turned grey. The boats returned early, and the men tied them to the pier "
    "with double knots. Clara closed the shop for an hour, as she did every day, and walked with "
    "her son along the sea wall. They talked about the puzzle, about the snow, and about whether "
    "a computer could ever learn to bake bread as well as a person who had done it for thirty "
    "years. Her son thought it could, if someone wrote down every step carefully enough. Clara "
    "was not so sure; some things, she said, you only learn with your hands."
)
