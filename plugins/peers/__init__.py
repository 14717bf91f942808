"""The peers of ProAV-DiT as generators over the same MDSA latents (DESIGN "Tasks and peers"):
each a package of its own, registered like any other component.

    av_dit/     AV-DiT: one DiT backbone shared by both modalities, video temporal attention,
                audio adapters, a fusion block; the frozen-backbone recipe in two steps
    javisdit/   JavisDiT: video and audio branches with MM-BiCrossAttn, and the HiST-Sypo
                spatio-temporal prior (kind `prior`, its own training stage)
    uniform/    UniForm: one DiT over the audio and video tokens with condition/task tokens
                in its sequence
"""
