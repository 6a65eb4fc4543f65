"""The Fargate tasks an ECS service of a template runs: how many, how large, on which architecture, how many on
Fargate Spot, and whether each has a public address."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from measure.template_reading import Template, TemplateError, n, number, ref_id, resources


@dataclass(frozen=True)
class FargateTasks:
    """One ECS service's tasks, as the template sizes and places them."""

    service: str
    count: float
    count_source: str
    cpu_units: int
    memory_mib: int
    arm: bool
    spot_tasks: float
    public_ip: bool
    notes: tuple[str, ...] = ()

    @property
    def vcpu(self) -> float:
        return self.cpu_units / 1024

    @property
    def gb(self) -> float:
        return self.memory_mib / 1024

    @property
    def on_demand_tasks(self) -> float:
        return self.count - self.spot_tasks


def _task_size(value: Any, unit: str, what: str) -> int:
    """A task size as ECS accepts it, in its 1024ths: '256' → 256, '0.25 vCPU' → 256 (unit 'vcpu'),
    '512' → 512, '0.5 GB' → 512 (unit 'gb')."""
    text = str(value).strip().lower()
    try:
        return round(float(text.removesuffix(unit).strip()) * 1024) if text.endswith(unit) else int(float(text))
    except ValueError as error:
        raise TemplateError(f"{what}: cannot read the task size from {value!r}") from error


def _task_count(template: Template, service_id: str, service: Mapping[str, Any]) -> tuple[float, str]:
    """DesiredCount; without it the autoscaling target's MinCapacity; without either ECS's default of 1."""
    targets = [
        target for _, target in resources(template, "AWS::ApplicationAutoScaling::ScalableTarget")
        if target.get("ServiceNamespace") == "ecs" and f'"{service_id}"' in json.dumps(target.get("ResourceId"))
    ]
    scaling = ""
    if targets:
        low = number(template, targets[0].get("MinCapacity"), 1, f"{service_id} MinCapacity")
        high = number(template, targets[0].get("MaxCapacity"), low, f"{service_id} MaxCapacity")
        scaling = f"autoscaling {n(low)}-{n(high)}"
    if service.get("DesiredCount") is not None:
        count = number(template, service["DesiredCount"], 1, f"{service_id}.DesiredCount")
        return count, "DesiredCount" + (f"; {scaling}, priced at the desired count" if scaling else "")
    if targets:
        return low, f"{scaling}, priced at the minimum"
    return 1, "no DesiredCount: ECS starts 1"


def _capacity_strategy(template: Template, service: Mapping[str, Any]) -> list[dict]:
    """The service's capacity provider strategy, else its cluster's default (none with a launch type)."""
    if service.get("CapacityProviderStrategy"):
        return list(service["CapacityProviderStrategy"])
    if service.get("LaunchType"):
        return []
    cluster = ref_id(service.get("Cluster"))
    for _, association in resources(template, "AWS::ECS::ClusterCapacityProviderAssociations"):
        if ref_id(association.get("Cluster")) == cluster and association.get("DefaultCapacityProviderStrategy"):
            return list(association["DefaultCapacityProviderStrategy"])
    for cluster_id, properties in resources(template, "AWS::ECS::Cluster"):
        if cluster_id == cluster and properties.get("DefaultCapacityProviderStrategy"):
            return list(properties["DefaultCapacityProviderStrategy"])
    return []


def spot_tasks(strategy: Iterable[Mapping[str, Any]], count: float) -> float:
    """Tasks on FARGATE_SPOT: each provider's Base first, the rest split by Weight (a fraction is a share)."""
    items = [(str(item.get("CapacityProvider")), float(item.get("Base") or 0), float(item.get("Weight") or 0))
             for item in strategy]
    spot, remaining = 0.0, float(count)
    for provider, base, _ in items:
        placed = min(base, remaining)
        remaining -= placed
        spot += placed if provider == "FARGATE_SPOT" else 0
    total_weight = sum(weight for _, _, weight in items)
    if total_weight > 0:
        spot += remaining * sum(w for p, _, w in items if p == "FARGATE_SPOT") / total_weight
    return spot


def fargate_tasks(template: Template) -> list[FargateTasks]:
    """Every ECS service of the template that runs on Fargate (launch type or capacity providers)."""
    task_definitions = dict(resources(template, "AWS::ECS::TaskDefinition"))
    found = []
    for service_id, service in resources(template, "AWS::ECS::Service"):
        strategy = _capacity_strategy(template, service)
        providers = {str(item.get("CapacityProvider")) for item in strategy}
        launch_type = service.get("LaunchType") or ("FARGATE" if not strategy or providers & {"FARGATE",
                                                                                             "FARGATE_SPOT"} else "")
        if launch_type != "FARGATE":
            continue
        task_id = ref_id(service.get("TaskDefinition"))
        task = task_definitions.get(task_id or "")
        if task is None:
            raise TemplateError(f"{service_id}: its task definition is not in this template")
        count, source = _task_count(template, service_id, service)
        architecture = str((task.get("RuntimePlatform") or {}).get("CpuArchitecture") or "X86_64").upper()
        system = str((task.get("RuntimePlatform") or {}).get("OperatingSystemFamily") or "LINUX").upper()
        notes = []
        if system != "LINUX":
            notes.append(f"{system}: Windows licence fee not priced")
        storage = (task.get("EphemeralStorage") or {}).get("SizeInGiB")
        if storage and number(template, storage, 20, f"{task_id} EphemeralStorage") > 20:
            notes.append(f"ephemeral storage above 20 GiB ({storage} GiB) not priced")
        network = (service.get("NetworkConfiguration") or {}).get("AwsvpcConfiguration") or {}
        found.append(FargateTasks(
            service=service_id, count=count, count_source=source,
            cpu_units=_task_size(task.get("Cpu"), "vcpu", f"{task_id}.Cpu"),
            memory_mib=_task_size(task.get("Memory"), "gb", f"{task_id}.Memory"),
            arm=architecture == "ARM64",
            spot_tasks=spot_tasks(strategy, count),
            public_ip=str(network.get("AssignPublicIp", "DISABLED")).upper() == "ENABLED",
            notes=tuple(notes),
        ))
    return found
