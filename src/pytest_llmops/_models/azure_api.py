"""The Azure OpenAI backend: the OpenAI backend through the SDK's ``openai.AzureOpenAI`` client.

A spec names a deployment (``azure:<deployment>``); the SDK calls
``<endpoint>/openai/deployments/<deployment>/chat/completions?api-version=<version>`` with the
key in the ``api-key`` header. The answer names the model the deployment serves, which prices it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import openai

from pytest_llmops._models.openai_api import OpenAIBackend

if TYPE_CHECKING:
    from pytest_llmops._models.named_endpoints import Target


class AzureOpenAIBackend(OpenAIBackend):
    """:class:`OpenAIBackend` on an Azure OpenAI resource: the same requests, answers and errors."""

    prefix = "azure"

    def _new_client(self, target: Target, key: str, timeout: float) -> openai.OpenAI:
        return openai.AzureOpenAI(
            api_key=key, azure_endpoint=target.url, api_version=target.api_version, timeout=timeout, max_retries=0
        )
