"""Internal notes on a request: provider staff only, never shown to the customer."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from approvals import notes, selectors
from approvals.errors import TransitionError
from approvals.forms import NoteForm
from approvals.views.shared.guards import provider_page
from approvals.views.shared.refusals import refusal_message


@provider_page()
@require_POST
def add_note(request, pk):
    req = selectors.get_request_for_provider(request.user, pk)
    form = NoteForm(request.POST)
    if form.is_valid():
        try:
            notes.add_note(access_request=req, author=request.user, body=form.cleaned_data["body"])
        except (ValidationError, TransitionError) as refused:
            messages.error(request, refusal_message(refused))
        else:
            messages.success(request, "Note added.")
    else:
        messages.error(request, form.errors["body"][0])
    return redirect("internal:request", req.pk)
