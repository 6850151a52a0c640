"""How the kernel splits customers into chunks (sim.kernel.chunk_size): complete, even, fixed."""

from hypothesis import given
from hypothesis import strategies as st

from sim.kernel import BLOCK, CHUNK, CHUNK_GROUP, EVEN_CHUNKS, chunk_size, chunks

CUSTOMERS = st.integers(min_value=0, max_value=10**8)


def shares(customers: int, threads: int) -> list[int]:
    """Customers of each thread when numba splits the chunks evenly among ``threads``."""
    size, count = chunk_size(customers), chunks(customers)
    bounds = [round(k * count / threads) for k in range(threads + 1)]
    return [
        min(customers, bounds[k + 1] * size) - min(customers, bounds[k] * size)
        for k in range(threads)
    ]


@given(CUSTOMERS)
def test_chunks_cover_every_customer_once_and_none_is_empty(customers):
    size, count = chunk_size(customers), chunks(customers)
    assert 0 < size <= CHUNK
    assert size == CHUNK or size % BLOCK == 0
    assert (count - 1) * size < max(customers, 1) <= count * size


@given(st.integers(min_value=0, max_value=CHUNK))
def test_up_to_a_chunk_of_customers_are_one_chunk(customers):
    assert chunks(customers) == 1


@given(st.integers(min_value=CHUNK + 1, max_value=(EVEN_CHUNKS - 1) * CHUNK))
def test_few_chunks_share_the_customers_evenly_between_threads(customers):
    # before, 10^5 customers were 7 chunks and one of two threads had 90% more than the other
    for threads in (2, 4, 8):
        if chunks(customers) >= threads:
            split = shares(customers, threads)
            assert max(split) - min(split) <= chunk_size(customers)
            assert max(split) <= 1.1 * customers / threads + BLOCK
    assert chunks(customers) % min(CHUNK_GROUP, 2) == 0


def test_a_hundred_thousand_customers_are_eight_even_chunks():
    assert chunks(100_000) == 8
    assert shares(100_000, 2) == [50_176, 49_824]


def test_many_chunks_keep_their_size_and_a_million_customers_their_split():
    # every run of a million customers gives the same results as before chunks were evened out
    assert chunk_size(1_000_000) == CHUNK and chunks(1_000_000) == 62
