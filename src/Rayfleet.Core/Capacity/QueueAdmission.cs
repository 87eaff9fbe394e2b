namespace Rayfleet.Core.Capacity;

public sealed record QueueCapacity(string Name, decimal Cu, int Gpu);

public enum AdmissionVerdict
{
    Admit,
    Wait,
    NeverFits,
}

public sealed record AdmissionDecision(AdmissionVerdict Verdict, string Message)
{
    public bool Admitted => Verdict == AdmissionVerdict.Admit;
}

/// <summary>
/// Pure queue admission: whether a demand fits the queues' capacities, and whether it fits what is free now.
/// The caller serialises decisions so that two of them never read the same "free" amount.
/// </summary>
public static class QueueAdmission
{
    /// <param name="demand">What the cluster needs, per queue.</param>
    /// <param name="capacities">Each queue's capacity.</param>
    /// <param name="used">What admitted clusters hold now.</param>
    /// <param name="aheadInLine">
    /// What clusters that asked earlier and still wait need, per queue. First come, first served: a cluster is admitted
    /// only if it fits next to everything ahead of it, so it never takes capacity an earlier one is waiting for, and it
    /// is never held back while there is room for all.
    /// </param>
    public static AdmissionDecision Decide(
        QueueDemand demand,
        IReadOnlyDictionary<string, QueueCapacity> capacities,
        QueueDemand used,
        QueueDemand? aheadInLine = null)
    {
        foreach (var (queue, need) in demand.ByQueue)
        {
            if (!capacities.TryGetValue(queue, out var capacity))
                return new(AdmissionVerdict.NeverFits, $"Queue '{queue}' does not exist.");
            if (need.Cu > capacity.Cu || need.Gpu > capacity.Gpu)
                return new(AdmissionVerdict.NeverFits,
                    $"Queue '{queue}' has a capacity of {Quantity.FormatCu(capacity.Cu)} CU and {capacity.Gpu} GPU; " +
                    $"the cluster needs {Quantity.FormatCu(need.Cu)} CU and {need.Gpu} GPU.");
        }

        foreach (var (queue, need) in demand.ByQueue)
        {
            var capacity = capacities[queue];
            var inUse = used.For(queue);
            var ahead = aheadInLine?.For(queue) ?? Resources.Zero;
            var freeCu = capacity.Cu - inUse.Cu;
            var freeGpu = capacity.Gpu - inUse.Gpu;
            if (need.Cu + ahead.Cu > freeCu || need.Gpu + ahead.Gpu > freeGpu)
            {
                var gpuPart = need.Gpu > 0 ? $" and {need.Gpu} GPU ({Math.Max(0, freeGpu)} GPU free)" : "";
                var order = !ahead.IsZero && need.Cu <= freeCu && need.Gpu <= freeGpu
                    ? $"; clusters that asked earlier wait ahead of it for {Quantity.FormatCu(ahead.Cu)} CU"
                    : "";
                return new(AdmissionVerdict.Wait,
                    $"Waiting for capacity in queue '{queue}': needs {Quantity.FormatCu(need.Cu)} CU, " +
                    $"{Quantity.FormatCu(Math.Max(0, freeCu))} CU free{gpuPart}{order}.");
            }
        }

        return new(AdmissionVerdict.Admit, "");
    }
}
