using System.Collections.Immutable;
using System.Reflection;
using System.Reflection.Emit;
using System.Reflection.Metadata;
using System.Reflection.Metadata.Ecma335;
using System.Reflection.PortableExecutable;
using Rayfleet.Core.Clusters;
using Rayfleet.Server.Persistence;
using Rayfleet.Server.Providers;

namespace Rayfleet.Server.Tests;

/// <summary>
/// The dependency rules of the house style, held by reading what the code uses: signatures, base types, attributes,
/// locals and every token in the IL of method bodies, compiler-generated types (async state machines, closures,
/// lambda caches) counted as part of the type they were generated from.
/// </summary>
public sealed class ArchitectureTests
{
    private static readonly Assembly Server = typeof(RayfleetDbContext).Assembly;

    [Fact]
    public void The_api_never_calls_a_provider()
    {
        using var assembly = AssemblyUses.Of(Server);
        var uses = assembly.From("Rayfleet.Server.Api");
        Assert.NotEmpty(uses);
        AssertNone(Offending(uses, "Rayfleet.Server.Providers"));
    }

    [Fact]
    public void Providers_use_their_request_and_options_never_the_api_store_reconciler_or_catalogues()
    {
        using var assembly = AssemblyUses.Of(Server);
        var uses = assembly.From("Rayfleet.Server.Providers");
        Assert.Contains(uses, u => u.User.StartsWith(typeof(Server.Providers.Local.LocalProvider).FullName + "+<", StringComparison.Ordinal));
        AssertNone(Offending(uses,
            "Rayfleet.Server.Api", "Rayfleet.Server.Persistence", "Rayfleet.Server.Reconciler",
            "Rayfleet.Server.Hosting.Catalogs", "Rayfleet.Server.Hosting.WorkspaceCatalog",
            "Microsoft.EntityFrameworkCore",
            // Secrets reach a provider decrypted, in the request; only the API and the reconciler hold the keys.
            "Microsoft.AspNetCore.DataProtection"));
        Assert.Contains(Server.GetTypes(), t => typeof(IClusterProvider).IsAssignableFrom(t) && !t.IsInterface);

        // Each provider has its own section of the options; the service's whole settings (the release catalogue among
        // them) are not its to read.
        var providers = Server.GetTypes().Where(t => typeof(IClusterProvider).IsAssignableFrom(t) && t is { IsInterface: false, IsNested: false }).ToList();
        Assert.True(providers.Count >= 3);
        AssertNone([.. providers.SelectMany(p => Offending(assembly.From(p.FullName!), typeof(Server.Hosting.RayfleetOptions).FullName!))]);
    }

    public static readonly TheoryData<string, string[]> ObservedHalves = new()
    {
        {
            typeof(ClusterRow).FullName!,
            [
                nameof(ClusterRow.State), nameof(ClusterRow.Message), nameof(ClusterRow.RunSpecJson), nameof(ClusterRow.AdmittedReplicasJson),
                nameof(ClusterRow.Modified), nameof(ClusterRow.NodesJson), nameof(ClusterRow.DashboardUrl), nameof(ClusterRow.JobUrl),
                nameof(ClusterRow.JobUrlInner), nameof(ClusterRow.GrpcEndpoint), nameof(ClusterRow.ObservedGeneration), nameof(ClusterRow.ObservedInstanceId),
                nameof(ClusterRow.UsageCuMs), nameof(ClusterRow.UsageGpuMs), nameof(ClusterRow.UsageObservedAt), nameof(ClusterRow.LastBusyAt),
                nameof(ClusterRow.UsageCuRate), nameof(ClusterRow.UsageGpuRate),
            ]
        },
        {
            typeof(JobRow).FullName!,
            [
                nameof(JobRow.Status), nameof(JobRow.Message), nameof(JobRow.ClusterState), nameof(JobRow.RaySubmitted), nameof(JobRow.StartTime),
                nameof(JobRow.EndTime), nameof(JobRow.UsageCuMsAtStart), nameof(JobRow.UsageGpuMsAtStart), nameof(JobRow.UsageCuMs),
                nameof(JobRow.UsageGpuMs), nameof(JobRow.GpuSpec), nameof(JobRow.DashboardUrl), nameof(JobRow.DriverLogBytes),
                nameof(JobRow.ObservedGeneration),
            ]
        },
    };

    [Theory]
    [MemberData(nameof(ObservedHalves))]
    public void Only_the_reconciler_writes_the_observed_half_of_a_cluster_or_a_job(string row, string[] observed)
    {
        var setters = observed.Select(p => $"{row}::set_{p}").ToHashSet(StringComparer.Ordinal);
        using var assembly = AssemblyUses.Of(Server);
        var calls = assembly.MembersFrom("Rayfleet.Server");
        Assert.Contains(calls, c => c.User.StartsWith("Rayfleet.Server.Reconciler.", StringComparison.Ordinal) && setters.Contains(c.Used));
        AssertNone([.. calls
            .Where(c => setters.Contains(c.Used) && !c.User.StartsWith("Rayfleet.Server.Reconciler.", StringComparison.Ordinal))
            .Select(c => $"{c.User} ({c.Where}) -> {c.Used}").Distinct().Order(StringComparer.Ordinal)]);
    }

    [Fact]
    public void Core_references_no_aspnet_ef_kubernetes_or_server()
    {
        var core = typeof(ClusterSpec).Assembly;
        var references = core.GetReferencedAssemblies().Select(a => a.Name!).ToList();
        Assert.DoesNotContain(references, n => n.StartsWith("Microsoft.AspNetCore", StringComparison.Ordinal)
                                               || n.StartsWith("Microsoft.EntityFrameworkCore", StringComparison.Ordinal)
                                               || n.StartsWith("KubernetesClient", StringComparison.Ordinal)
                                               || n.StartsWith("Rayfleet.Server", StringComparison.Ordinal));
        // Type forwarding can bring a type in through an assembly of another name: check what the code uses as well.
        using var assembly = AssemblyUses.Of(core);
        var uses = assembly.From("Rayfleet.Core");
        Assert.NotEmpty(uses);
        AssertNone(Offending(uses, "Microsoft.AspNetCore", "Microsoft.EntityFrameworkCore", "k8s", "Rayfleet.Server"));
    }

    [Fact]
    public void The_reader_finds_uses_that_only_an_async_state_machine_or_a_closure_makes()
    {
        using var assembly = AssemblyUses.Of(typeof(ArchitectureTests).Assembly);
        var found = Offending(assembly.From(typeof(Fixture).FullName!), typeof(Fixture.Used).FullName!);

        Assert.Contains(found, f => f.StartsWith(typeof(Fixture.HidesUses).FullName + "+<AfterAwaitAsync>", StringComparison.Ordinal));
        Assert.Contains(found, f => f.StartsWith(typeof(Fixture.HidesUses).FullName + "+<>c__DisplayClass", StringComparison.Ordinal));
        // Nothing a signature shows: a reader of fields and parameters alone sees none of it.
        const BindingFlags all = BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance | BindingFlags.Static | BindingFlags.DeclaredOnly;
        Assert.DoesNotContain(typeof(Fixture.HidesUses).GetFields(all), f => f.FieldType == typeof(Fixture.Used));
        Assert.DoesNotContain(typeof(Fixture.HidesUses).GetMethods(all).SelectMany(m => m.GetParameters().Select(p => p.ParameterType).Append(m.ReturnType)),
            t => t == typeof(Fixture.Used));
    }

    private static void AssertNone(List<string> offending)
    {
        if (offending.Count > 0) Assert.Fail($"{offending.Count} forbidden uses:\n" + string.Join("\n", offending));
    }

    /// <summary>"user -> used" for each use of a type in one of the namespaces, or one of the types, named.</summary>
    private static List<string> Offending(IEnumerable<TypeUse> uses, params string[] forbidden) =>
        [.. uses.Where(u => forbidden.Any(f => u.Used == f || u.Used.StartsWith(f + ".", StringComparison.Ordinal) || u.Used.StartsWith(f + "+", StringComparison.Ordinal)))
            .Select(u => $"{u.User} ({u.Where}) -> {u.Used}").Distinct().Order(StringComparer.Ordinal)];
}

/// <summary>Types a test reads for the architecture rules' own check; nothing runs them.</summary>
public static class Fixture
{
    public sealed class Used
    {
        public int Value => 1;
    }

    public sealed class HidesUses
    {
        public static async Task<int> AfterAwaitAsync()
        {
            await Task.Yield();
            return new Used().Value;
        }

        public static int InAClosure(IEnumerable<int> items, int offset) => items.Select(i => i + offset + new Used().Value).Sum();
    }
}

/// <summary>One use: a type (its full name, nested types after '+'), where, and the full name of the type it uses.</summary>
public sealed record TypeUse(string User, string Where, string Used);

/// <summary>Reads an assembly's metadata and IL, and says which types each of its types uses.</summary>
public sealed class AssemblyUses : ISignatureTypeProvider<ImmutableArray<string>, object?>, IDisposable
{
    private static readonly Dictionary<ushort, OperandType> Operands = typeof(OpCodes)
        .GetFields(BindingFlags.Public | BindingFlags.Static)
        .Select(f => (OpCode)f.GetValue(null)!)
        .ToDictionary(o => (ushort)o.Value, o => o.OperandType);

    private readonly PEReader _pe;
    private readonly MetadataReader _md;

    private AssemblyUses(string path)
    {
        _pe = new PEReader(File.ReadAllBytes(path).ToImmutableArray());
        _md = _pe.GetMetadataReader();
    }

    public static AssemblyUses Of(Assembly assembly) => new(assembly.Location);

    public void Dispose() => _pe.Dispose();

    /// <summary>Every use made by the types of a namespace (and those below it) or by one type, nested types included.</summary>
    public List<TypeUse> From(string scope) =>
        [.. TypesOf(scope).SelectMany(t => UsesOf(t.Handle).Where(u => u.Used != t.Name && !u.Used.StartsWith("System.", StringComparison.Ordinal))
            .Select(u => new TypeUse(t.Name, u.Where, u.Used)))];

    /// <summary>Every method or field a body of the scope's types uses, as "DeclaringType::name" (setters are set_X).</summary>
    public List<TypeUse> MembersFrom(string scope) =>
        [.. from t in TypesOf(scope)
            from m in _md.GetTypeDefinition(t.Handle).GetMethods().Select(_md.GetMethodDefinition)
            where m.RelativeVirtualAddress != 0
            from token in BodyTokens(_pe.GetMethodBody(m.RelativeVirtualAddress))
            let used = Member(token)
            where used is not null
            select new TypeUse(t.Name, _md.GetString(m.Name), used)];

    /// <summary>The types of a namespace (and those below it) or one type, with every type nested in them.</summary>
    private IEnumerable<(TypeDefinitionHandle Handle, string Name)> TypesOf(string scope)
    {
        foreach (var handle in _md.TypeDefinitions)
        {
            var outermost = handle;
            while (_md.GetTypeDefinition(outermost).GetDeclaringType() is { IsNil: false } declaring) outermost = declaring;
            var outerName = Name(outermost);
            if (outerName == scope || outerName.StartsWith(scope + ".", StringComparison.Ordinal)) yield return (handle, Name(handle));
        }
    }

    private string? Member(EntityHandle handle)
    {
        switch (handle.Kind)
        {
            case HandleKind.MethodDefinition:
            {
                var method = _md.GetMethodDefinition((MethodDefinitionHandle)handle);
                return Name(method.GetDeclaringType()) + "::" + _md.GetString(method.Name);
            }
            case HandleKind.FieldDefinition:
            {
                var field = _md.GetFieldDefinition((FieldDefinitionHandle)handle);
                return Name(field.GetDeclaringType()) + "::" + _md.GetString(field.Name);
            }
            case HandleKind.MemberReference:
            {
                var member = _md.GetMemberReference((MemberReferenceHandle)handle);
                var parent = member.Parent.Kind switch
                {
                    HandleKind.TypeDefinition => Name((TypeDefinitionHandle)member.Parent),
                    HandleKind.TypeReference => Name((TypeReferenceHandle)member.Parent),
                    _ => null,
                };
                return parent is null ? null : parent + "::" + _md.GetString(member.Name);
            }
            case HandleKind.MethodSpecification:
                return Member(_md.GetMethodSpecification((MethodSpecificationHandle)handle).Method);
            default:
                return null;
        }
    }

    private IEnumerable<(string Where, string Used)> UsesOf(TypeDefinitionHandle handle)
    {
        var type = _md.GetTypeDefinition(handle);
        var uses = new List<(string, string)>();
        void Add(string where, IEnumerable<string> types) => uses.AddRange(types.Select(t => (where, t)));

        if (!type.BaseType.IsNil) Add("base type", Types(type.BaseType));
        foreach (var i in type.GetInterfaceImplementations()) Add("interface", Types(_md.GetInterfaceImplementation(i).Interface));
        Add("attribute", Attributes(type.GetCustomAttributes()));
        foreach (var p in type.GetGenericParameters())
            foreach (var c in _md.GetGenericParameter(p).GetConstraints()) Add("constraint", Types(_md.GetGenericParameterConstraint(c).Type));

        foreach (var f in type.GetFields())
        {
            var field = _md.GetFieldDefinition(f);
            var where = _md.GetString(field.Name);
            Add(where, field.DecodeSignature(this, null));
            Add(where, Attributes(field.GetCustomAttributes()));
        }
        foreach (var p in type.GetProperties())
        {
            var property = _md.GetPropertyDefinition(p);
            var signature = property.DecodeSignature(this, null);
            Add(_md.GetString(property.Name), signature.ParameterTypes.SelectMany(t => t).Concat(signature.ReturnType));
        }
        foreach (var m in type.GetMethods())
        {
            var method = _md.GetMethodDefinition(m);
            var where = _md.GetString(method.Name);
            var signature = method.DecodeSignature(this, null);
            Add(where, signature.ParameterTypes.SelectMany(t => t).Concat(signature.ReturnType));
            Add(where, Attributes(method.GetCustomAttributes()));
            foreach (var p in method.GetParameters()) Add(where, Attributes(_md.GetParameter(p).GetCustomAttributes()));
            if (method.RelativeVirtualAddress == 0) continue;
            var body = _pe.GetMethodBody(method.RelativeVirtualAddress);
            if (!body.LocalSignature.IsNil)
                Add(where, _md.GetStandaloneSignature(body.LocalSignature).DecodeLocalSignature(this, null).SelectMany(t => t));
            foreach (var region in body.ExceptionRegions)
                if (!region.CatchType.IsNil) Add(where, Types(region.CatchType));
            Add(where, BodyTokens(body).SelectMany(Types));
        }
        return uses;
    }

    private static IEnumerable<EntityHandle> BodyTokens(MethodBodyBlock body)
    {
        var il = body.GetILReader();
        var tokens = new List<EntityHandle>();
        while (il.RemainingBytes > 0)
        {
            ushort code = il.ReadByte();
            if (code == 0xFE) code = (ushort)(0xFE00 | il.ReadByte());
            switch (Operands[code])
            {
                case OperandType.InlineField or OperandType.InlineMethod or OperandType.InlineTok or OperandType.InlineType or OperandType.InlineSig:
                    tokens.Add(MetadataTokens.EntityHandle(il.ReadInt32()));
                    break;
                case OperandType.InlineSwitch:
                    // Read the count first: `Offset += 4 * ReadInt32()` would add to the offset from before the read.
                    var targets = il.ReadInt32();
                    il.Offset += 4 * targets;
                    break;
                case OperandType.InlineI8 or OperandType.InlineR:
                    il.Offset += 8;
                    break;
                case OperandType.InlineBrTarget or OperandType.InlineI or OperandType.ShortInlineR or OperandType.InlineString:
                    il.Offset += 4;
                    break;
                case OperandType.InlineVar:
                    il.Offset += 2;
                    break;
                case OperandType.ShortInlineBrTarget or OperandType.ShortInlineI or OperandType.ShortInlineVar:
                    il.Offset += 1;
                    break;
            }
        }
        return tokens;
    }

    private IEnumerable<string> Attributes(CustomAttributeHandleCollection attributes) =>
        attributes.SelectMany(a => Types(_md.GetCustomAttribute(a).Constructor));

    /// <summary>The types a token names: the type itself, a member's declaring type and signature, generic arguments.</summary>
    private IEnumerable<string> Types(EntityHandle handle)
    {
        switch (handle.Kind)
        {
            case HandleKind.TypeDefinition:
                return [Name((TypeDefinitionHandle)handle)];
            case HandleKind.TypeReference:
                return [Name((TypeReferenceHandle)handle)];
            case HandleKind.TypeSpecification:
                return _md.GetTypeSpecification((TypeSpecificationHandle)handle).DecodeSignature(this, null);
            case HandleKind.FieldDefinition:
            {
                var field = _md.GetFieldDefinition((FieldDefinitionHandle)handle);
                return field.DecodeSignature(this, null).Append(Name(field.GetDeclaringType()));
            }
            case HandleKind.MethodDefinition:
            {
                var method = _md.GetMethodDefinition((MethodDefinitionHandle)handle);
                return Flatten(method.DecodeSignature(this, null)).Append(Name(method.GetDeclaringType()));
            }
            case HandleKind.MemberReference:
            {
                var member = _md.GetMemberReference((MemberReferenceHandle)handle);
                var signature = member.GetKind() == MemberReferenceKind.Field
                    ? member.DecodeFieldSignature(this, null)
                    : Flatten(member.DecodeMethodSignature(this, null));
                return signature.Concat(member.Parent.Kind == HandleKind.ModuleReference ? [] : Types(member.Parent));
            }
            case HandleKind.MethodSpecification:
            {
                var spec = _md.GetMethodSpecification((MethodSpecificationHandle)handle);
                return spec.DecodeSignature(this, null).SelectMany(t => t).Concat(Types(spec.Method));
            }
            case HandleKind.StandaloneSignature:
                return Flatten(_md.GetStandaloneSignature((StandaloneSignatureHandle)handle).DecodeMethodSignature(this, null));
            default:
                return [];
        }
    }

    private static IEnumerable<string> Flatten(MethodSignature<ImmutableArray<string>> signature) =>
        signature.ParameterTypes.SelectMany(t => t).Concat(signature.ReturnType);

    private string Name(TypeDefinitionHandle handle)
    {
        var type = _md.GetTypeDefinition(handle);
        var declaring = type.GetDeclaringType();
        return declaring.IsNil
            ? Qualified(_md.GetString(type.Namespace), _md.GetString(type.Name))
            : Name(declaring) + "+" + _md.GetString(type.Name);
    }

    private string Name(TypeReferenceHandle handle)
    {
        var type = _md.GetTypeReference(handle);
        return type.ResolutionScope.Kind == HandleKind.TypeReference
            ? Name((TypeReferenceHandle)type.ResolutionScope) + "+" + _md.GetString(type.Name)
            : Qualified(_md.GetString(type.Namespace), _md.GetString(type.Name));
    }

    private static string Qualified(string ns, string name) => ns.Length == 0 ? name : ns + "." + name;

    public ImmutableArray<string> GetPrimitiveType(PrimitiveTypeCode typeCode) => [];
    public ImmutableArray<string> GetTypeFromDefinition(MetadataReader reader, TypeDefinitionHandle handle, byte rawTypeKind) => [Name(handle)];
    public ImmutableArray<string> GetTypeFromReference(MetadataReader reader, TypeReferenceHandle handle, byte rawTypeKind) => [Name(handle)];
    public ImmutableArray<string> GetTypeFromSpecification(MetadataReader reader, object? genericContext, TypeSpecificationHandle handle, byte rawTypeKind) =>
        reader.GetTypeSpecification(handle).DecodeSignature(this, genericContext);
    public ImmutableArray<string> GetSZArrayType(ImmutableArray<string> elementType) => elementType;
    public ImmutableArray<string> GetArrayType(ImmutableArray<string> elementType, ArrayShape shape) => elementType;
    public ImmutableArray<string> GetByReferenceType(ImmutableArray<string> elementType) => elementType;
    public ImmutableArray<string> GetPointerType(ImmutableArray<string> elementType) => elementType;
    public ImmutableArray<string> GetPinnedType(ImmutableArray<string> elementType) => elementType;
    public ImmutableArray<string> GetGenericInstantiation(ImmutableArray<string> genericType, ImmutableArray<ImmutableArray<string>> typeArguments) =>
        [.. genericType, .. typeArguments.SelectMany(t => t)];
    public ImmutableArray<string> GetGenericMethodParameter(object? genericContext, int index) => [];
    public ImmutableArray<string> GetGenericTypeParameter(object? genericContext, int index) => [];
    public ImmutableArray<string> GetFunctionPointerType(MethodSignature<ImmutableArray<string>> signature) => [.. Flatten(signature)];
    public ImmutableArray<string> GetModifiedType(ImmutableArray<string> modifier, ImmutableArray<string> unmodifiedType, bool isRequired) => unmodifiedType;
}
