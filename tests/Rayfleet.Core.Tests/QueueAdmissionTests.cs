using Rayfleet.Core.Capacity;

namespace Rayfleet.Core.Tests;

public class QueueAdmissionTests
{
    private static readonly QueueDemand NoWaiters = new();

    private static QueueDemand Demand(string queue, decimal cu, int gpu = 0)
    {
        var d = new QueueDemand();
        d.Add(queue, new Resources((long)(cu * 1000), (long)(cu * 4) << 30, cu, gpu));
        return d;
    }

    private static Dictionary<string, QueueCapacity> Capacities(params QueueCapacity[] queues) =>
        queues.ToDictionary(q => q.Name);

    [Fact]
    public void A_demand_that_fits_what_is_free_is_admitted()
    {
        var decision = QueueAdmission.Decide(
            Demand("root_queue", 4), Capacities(new QueueCapacity("root_queue", 10, 0)), Demand("root_queue", 6), NoWaiters);

        Assert.Equal(AdmissionVerdict.Admit, decision.Verdict);
        Assert.True(decision.Admitted);
        Assert.Equal("", decision.Message);
    }

    [Fact]
    public void A_demand_that_fills_the_queue_exactly_is_admitted()
    {
        var decision = QueueAdmission.Decide(
            Demand("root_queue", 10), Capacities(new QueueCapacity("root_queue", 10, 0)), new QueueDemand(), NoWaiters);

        Assert.Equal(AdmissionVerdict.Admit, decision.Verdict);
    }

    [Fact]
    public void A_demand_that_fits_capacity_but_not_what_is_free_waits_and_says_why()
    {
        var decision = QueueAdmission.Decide(
            Demand("root_queue", 4), Capacities(new QueueCapacity("root_queue", 10, 0)), Demand("root_queue", 7.5m), NoWaiters);

        Assert.Equal(AdmissionVerdict.Wait, decision.Verdict);
        Assert.False(decision.Admitted);
        Assert.Contains("'root_queue'", decision.Message);
        Assert.Contains("needs 4 CU", decision.Message);
        Assert.Contains("2.5 CU free", decision.Message);
        Assert.Equal("Waiting for capacity in queue 'root_queue': needs 4 CU, 2.5 CU free.", decision.Message);
    }

    [Fact]
    public void Waiting_for_gpus_names_the_gpus_needed_and_free()
    {
        var decision = QueueAdmission.Decide(
            Demand("gpu_q", 2, gpu: 2), Capacities(new QueueCapacity("gpu_q", 100, 4)), Demand("gpu_q", 1, gpu: 3), NoWaiters);

        Assert.Equal(AdmissionVerdict.Wait, decision.Verdict);
        Assert.Contains("needs 2 CU, 99 CU free and 2 GPU (1 GPU free)", decision.Message);
    }

    [Fact]
    public void Free_cu_never_reads_negative_when_the_queue_is_overcommitted()
    {
        var decision = QueueAdmission.Decide(
            Demand("q", 1), Capacities(new QueueCapacity("q", 4, 0)), Demand("q", 6), NoWaiters);

        Assert.Equal(AdmissionVerdict.Wait, decision.Verdict);
        Assert.Contains("0 CU free", decision.Message);
    }

    [Fact]
    public void A_demand_above_the_queue_capacity_never_fits()
    {
        var decision = QueueAdmission.Decide(
            Demand("root_queue", 12), Capacities(new QueueCapacity("root_queue", 10, 0)), new QueueDemand(), NoWaiters);

        Assert.Equal(AdmissionVerdict.NeverFits, decision.Verdict);
        Assert.Contains("'root_queue'", decision.Message);
        Assert.Contains("10 CU", decision.Message);
        Assert.Contains("12 CU", decision.Message);
    }

    [Fact]
    public void More_gpus_than_the_queue_has_never_fit_even_when_cu_fits()
    {
        var decision = QueueAdmission.Decide(
            Demand("q", 1, gpu: 2), Capacities(new QueueCapacity("q", 10, 1)), new QueueDemand(), NoWaiters);

        Assert.Equal(AdmissionVerdict.NeverFits, decision.Verdict);
        Assert.Contains("1 GPU", decision.Message);
        Assert.Contains("2 GPU", decision.Message);
    }

    [Fact]
    public void Never_fits_wins_over_waiting_even_when_the_queue_is_busy()
    {
        var decision = QueueAdmission.Decide(
            Demand("q", 12), Capacities(new QueueCapacity("q", 10, 0)), Demand("q", 10), Demand("q", 5));

        Assert.Equal(AdmissionVerdict.NeverFits, decision.Verdict);
    }

    [Fact]
    public void A_later_request_waits_when_it_would_take_capacity_an_earlier_waiter_needs()
    {
        // 10 CU free; an earlier waiter needs 8; this one needs 4 and would fit alone, but not next to it.
        var decision = QueueAdmission.Decide(
            Demand("root_queue", 4), Capacities(new QueueCapacity("root_queue", 10, 0)), new QueueDemand(), Demand("root_queue", 8));

        Assert.Equal(AdmissionVerdict.Wait, decision.Verdict);
        Assert.Equal("Waiting for capacity in queue 'root_queue': needs 4 CU, 10 CU free; clusters that asked earlier wait ahead of it for 8 CU.", decision.Message);
    }

    [Fact]
    public void Earlier_waiters_do_not_hold_back_a_request_when_there_is_room_for_all()
    {
        var decision = QueueAdmission.Decide(
            Demand("root_queue", 1), Capacities(new QueueCapacity("root_queue", 10, 0)), new QueueDemand(), Demand("root_queue", 8));

        Assert.Equal(AdmissionVerdict.Admit, decision.Verdict);
    }

    [Fact]
    public void A_waiter_on_another_queue_does_not_block_admission()
    {
        var decision = QueueAdmission.Decide(
            Demand("a", 1),
            Capacities(new QueueCapacity("a", 10, 0), new QueueCapacity("b", 10, 0)),
            new QueueDemand(),
            Demand("b", 10));

        Assert.Equal(AdmissionVerdict.Admit, decision.Verdict);
    }

    [Fact]
    public void An_unknown_queue_never_fits()
    {
        var decision = QueueAdmission.Decide(
            Demand("missing", 1), Capacities(new QueueCapacity("root_queue", 10, 0)), new QueueDemand(), NoWaiters);

        Assert.Equal(AdmissionVerdict.NeverFits, decision.Verdict);
        Assert.Contains("'missing'", decision.Message);
        Assert.Contains("does not exist", decision.Message);
    }

    [Fact]
    public void Queue_names_are_matched_case_sensitively()
    {
        var decision = QueueAdmission.Decide(
            Demand("Root_Queue", 1), Capacities(new QueueCapacity("root_queue", 10, 0)), new QueueDemand(), NoWaiters);

        Assert.Equal(AdmissionVerdict.NeverFits, decision.Verdict);
    }

    [Fact]
    public void Every_queue_of_a_demand_must_have_room()
    {
        var demand = Demand("a", 1);
        demand.AddAll(Demand("b", 3));
        var capacities = Capacities(new QueueCapacity("a", 10, 0), new QueueCapacity("b", 4, 0));

        var decision = QueueAdmission.Decide(demand, capacities, Demand("b", 2), NoWaiters);

        Assert.Equal(AdmissionVerdict.Wait, decision.Verdict);
        Assert.Contains("'b'", decision.Message);
        Assert.Contains("needs 3 CU, 2 CU free", decision.Message);
    }

    [Fact]
    public void Use_of_other_queues_does_not_count_against_this_one()
    {
        var capacities = Capacities(new QueueCapacity("a", 4, 0), new QueueCapacity("b", 4, 0));

        var decision = QueueAdmission.Decide(Demand("a", 4), capacities, Demand("b", 4), NoWaiters);

        Assert.Equal(AdmissionVerdict.Admit, decision.Verdict);
    }

    [Fact]
    public void An_empty_demand_is_admitted()
    {
        var decision = QueueAdmission.Decide(new QueueDemand(), Capacities(), new QueueDemand(), NoWaiters);

        Assert.Equal(AdmissionVerdict.Admit, decision.Verdict);
    }
}
