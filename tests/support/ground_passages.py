"""Passages as the seed articles' chunks look (headings on lines of their own, code, page furniture), cut
short; the tests need no files outside the repository."""

from __future__ import annotations

LORA = (
    "创意专业人士能够更好地将个人创意与AI的生成能力相结合。\n\nLoRA是什么\n\n"
    "LoRA模型,全称为Low-Rank Adaptation(低秩自适应),是一种机器学习领域中用于对大型预训练模型进行有效微调的技术。"
    "特别地,它在自然语言处理(NLP)和图像生成等场景中展现出了高效率和灵活性。"
    "LoRA的核心思想是通过引入低秩矩阵来近似模型中的大矩阵变化,以此来减少计算资源的消耗并加速训练过程,"
    "同时尽量保持模型的性能。\n\n工作原理:"
)
GAN = (
    "回归损失使用了L2损失函数。\n\n六、GAN的核心思想?\n\n"
    "2014年,Ian Goodfellow第一次提出了GAN的概念。GAN的提出让生成式模型重新站在了深度学习这个浪潮的璀璨舞台上。"
)
DISTILLATION = (
    "quantized_model = torch.quantization.quantize_dynamic(\nmodel, {torch.nn.Linear}, dtype=torch.qint8\n)\n"
    "print(output)\n知识蒸馏\n"
    "知识蒸馏是一种通过训练一个较小的学生模型来模仿大模型的行为,从而达到模型压缩的技术。"
    "学生模型在推理阶段能够更高效地运行,同时保持接近大模型的性能。\n"
    "import torch.nn.functional as F\n# Define a knowledge distillation loss function\n"
    "def distillation_loss(student_outputs, teacher_outputs, labels, alpha=0.5, temperature=2.0):"
)
GPT3 = (
    "其代表性模型包括GPT-3、BERT、ResNet和Transformer等。\nGPT-3\n"
    "GPT-3(Generative Pre-trained Transformer 3)是OpenAI开发的一种语言模型,具有1750亿个参数。"
    "它通过大量的文本数据进行预训练,能够生成高质量的自然语言文本。\n1,152次阅读\n没有评论"
)
EN_DISTILLATION = (
    "## Knowledge distillation\n"
    "Knowledge distillation trains a small student model to imitate a large teacher model. "
    "The student runs faster at inference while keeping most of the teacher's accuracy.\n"
    "```python\ndef distillation_loss(student, teacher, labels, alpha=0.5):\n"
    "    return alpha * kl(student, teacher)\n```\n"
    "Subscribe to our newsletter for more tutorials!"
)
