"""What facilitators and theme leaders change on the dashboard: the prompt queue, the library,
events. Every form takes the command's rules; bad input gets one sentence and changes nothing."""

from __future__ import annotations

from pathlib import Path

import aiohttp

from storage import facilitation, knowledge
from tests.web_demo import Served, csrf_of, logged_in, served_demo


async def post(
    http: aiohttp.ClientSession, served: Served, path: str, **fields: str
) -> tuple[int, str]:
    fields["csrf"] = await csrf_of(http, served.url)
    async with http.post(served.url + path, data=fields, allow_redirects=False) as response:
        return response.status, await response.text()


async def queue(served: Served, theme: str) -> list[str]:
    found = await facilitation.prompts(served.app.store, "praxis", theme, queued_only=True)
    return [prompt.text for prompt in found]


async def test_a_facilitator_queues_rewords_reorders_and_removes_prompts(
    demo_record: Path, tmp_path: Path
) -> None:
    async with served_demo(demo_record, tmp_path) as served:
        http = await logged_in(served, "maria")
        try:
            for text in ("Which well census worked for you?", "Who keeps the water accounts?"):
                assert (await post(http, served, "/themes/water/prompts", text=text))[0] == 303
            first, second = await facilitation.prompts(
                served.app.store, "praxis", "water", queued_only=True
            )
            status, page = await post(http, served, f"/prompts/{second.id}/move", to="sooner")
            assert status == 303
            assert await queue(served, "water") == [second.text, first.text]
            nxt = await facilitation.next_prompt(served.app.store, "praxis", "water")
            assert nxt is not None and nxt.id == second.id  # the schedule posts it first

            await post(http, served, f"/prompts/{first.id}/edit", text="Which census worked?")
            assert await queue(served, "water") == [second.text, "Which census worked?"]

            status, page = await post(http, served, f"/prompts/{first.id}/edit", text="Why?")
            assert status == 400
            assert "A prompt needs a real question of at least 10 characters." in page
            assert await queue(served, "water") == [second.text, "Which census worked?"]

            await post(http, served, f"/prompts/{second.id}/remove")
            assert await queue(served, "water") == ["Which census worked?"]
            async with http.get(served.url + "/themes/water") as response:
                assert "Which census worked?" in await response.text()
        finally:
            await http.close()


async def test_a_theme_leader_changes_the_queue_of_their_themes_only(
    demo_record: Path, tmp_path: Path
) -> None:
    async with served_demo(demo_record, tmp_path) as served:
        http = await logged_in(served, "rita")  # leads Climate adaptation
        try:
            status, page = await post(http, served, "/themes/water/prompts", text="Not my theme?")
            assert status == 400 and "There is no such theme among those you lead." in page
            assert await queue(served, "water") == []
            status, _ = await post(http, served, "/themes/climate/prompts", text="What lasted?!")
            assert status == 303 and await queue(served, "climate") == ["What lasted?!"]
            status, page = await post(http, served, "/events", title="x", when="2027-01-01")
            assert status == 400 and "This page is for facilitators" in page
        finally:
            await http.close()


async def test_a_facilitator_edits_and_removes_library_items_and_adds_events(
    demo_record: Path, tmp_path: Path
) -> None:
    async with served_demo(demo_record, tmp_path) as served:
        http = await logged_in(served, "maria")
        store = served.app.store
        try:
            status, _ = await post(http, served, "/library/1/edit", title="Drones", kind="case")
            assert status == 303
            item = await knowledge.knowledge_item(store, "praxis", item_id=1)
            assert item is not None and (item.title, item.kind) == ("Drones", "case")
            status, page = await post(http, served, "/library/1/edit", title="Drones", kind="poem")
            assert status == 400 and "is not a kind of knowledge" in page
            status, page = await post(http, served, "/library/999/edit", title="x", kind="case")
            assert status == 400 and "There is no item 999 in the library" in page
            assert (await post(http, served, "/library/1/remove"))[0] == 303
            assert await knowledge.knowledge_item(store, "praxis", item_id=1) is None

            status, _ = await post(
                http, served, "/events", title="Census review", when="2026-11-20 18:30",
                place="Casa Comunal", theme="water",
            )  # fmt: skip
            assert status == 303
            async with http.get(served.url + "/commitments") as response:
                assert "2026-11-20 18:30: <strong>Census review</strong>" in await response.text()
            status, page = await post(
                http, served, "/events", title="Too late", when="2026-01-01 10:00"
            )
            assert status == 400 and "has already passed" in page
            status, page = await post(http, served, "/events", title="Soon", when="next week")
            assert status == 400 and "is not a date and time" in page
        finally:
            await http.close()
